from django.apps import AppConfig


class ViewsAppConfig(AppConfig):
    name = "views_app"
    verbose_name = "Nocoflo views"

    def ready(self) -> None:
        from django.core import checks

        from .selection import check_strategy

        checks.register(check_strategy, "nocoflo")
