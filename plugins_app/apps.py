from django.apps import AppConfig


class PluginsAppConfig(AppConfig):
    name = "plugins_app"
    verbose_name = "Nocoflo plugins"

    def ready(self) -> None:
        # Built once per process; tests build their own managers with build_manager().
        from django.core import checks

        from .checks import PLUGINS_TAG, check_plugins
        from .manager import build_manager, set_manager

        set_manager(build_manager())
        checks.register(check_plugins, PLUGINS_TAG)
