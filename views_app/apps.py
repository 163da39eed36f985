from django.apps import AppConfig


class ViewsAppConfig(AppConfig):
    name = "views_app"
    verbose_name = "Nocoflo views"
