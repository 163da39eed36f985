from django.apps import AppConfig


class DatasourcesAppConfig(AppConfig):
    name = "datasources_app"
    verbose_name = "Nocoflo datasources"
