from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Nocoflo tables"

    def ready(self) -> None:
        from . import (
            metadata_cache,
            throttle,  # noqa: F401  (counts failed sign-ins, clears them on sign-in)
        )

        metadata_cache.watch()
