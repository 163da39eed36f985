from django.apps import AppConfig


class NocofloProjectConfig(AppConfig):
    name = "nocoflo_project"
    verbose_name = "Nocoflo"
