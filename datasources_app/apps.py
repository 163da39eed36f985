from django.apps import AppConfig


class DatasourcesAppConfig(AppConfig):
    name = "datasources_app"
    verbose_name = "Nocoflo datasources"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from .connections import close_datasource
        from .models import DatasourceConfig

        def close_pool(sender, instance, **kwargs):
            close_datasource(instance.pk)

        # A changed or deleted datasource must not keep connections open to the old database.
        post_save.connect(close_pool, sender=DatasourceConfig, weak=False)
        post_delete.connect(close_pool, sender=DatasourceConfig, weak=False)
