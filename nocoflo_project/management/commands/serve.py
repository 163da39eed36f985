"""`manage.py serve`: Nocoflo's one server process (Django and NiceGUI behind one dispatcher)."""

import logging
import os
import threading

import uvicorn
from django.conf import settings
from django.core.management import call_command

from nocoflo_project.management.startup_checks import StartupCommand
from plugins_app.store import sync_plugin_configs

log = logging.getLogger("nocoflo.audit")


# How often a running server settles entries left pending by a write whose datasource went away
# in the middle of it: once the database is back, the history says what happened without a restart.
SETTLE_EVERY_SECONDS = 60.0


def settle_pending_changes(every: float | None = None, stop: threading.Event | None = None) -> None:
    """Settle audit entries a crash left pending, without holding up the start (a datasource
    may be slow or down); with `every`, again every so many seconds until `stop` is set (the
    server never sets it)."""
    from django.db import connection

    from datasources_app.changes import settle

    stop = stop or threading.Event()
    while True:
        try:
            counts = settle()
            if counts["done"] or counts["failed"]:
                log.info("settled pending changes: %s", counts)
        except Exception:
            log.exception("settling pending changes failed")
        finally:
            connection.close()
        if every is None or stop.wait(every):
            return


class Command(StartupCommand):
    help = "Serve Nocoflo: pages, API and admin in one process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--reload", action="store_true", help="Restart on code changes.")
        parser.add_argument("--log-level", default="info")
        parser.add_argument(
            "--prepare",
            action="store_true",
            help="First do what `manage.py prepare` does (one process starts faster than two).",
        )
        parser.add_argument(
            "--reload-plugins",
            action="store_true",
            help="Load a plugin directory's file again when it changes (no restart).",
        )

    def handle(self, *args, **options):
        if options["prepare"]:
            call_command("prepare", stdout=self.stdout)
        # Read when the server builds the app: in this process, and from the environment in
        # the one --reload starts.
        os.environ["NOCOFLO_WATCH_PLUGINS"] = "true"
        settings.NOCOFLO_WATCH_PLUGINS = True
        if options["reload_plugins"]:
            os.environ["NOCOFLO_RELOAD_PLUGINS"] = "true"
            settings.NOCOFLO_RELOAD_PLUGINS = True
        sync_plugin_configs()
        threading.Thread(
            target=settle_pending_changes, args=(SETTLE_EVERY_SECONDS,), name="nocoflo-settle",
            daemon=True,
        ).start()  # fmt: skip
        self.stdout.write(f"Nocoflo on http://{options['host']}:{options['port']}")
        uvicorn.run(
            "nocoflo_project.asgi:application",
            host=options["host"],
            port=options["port"],
            reload=options["reload"],
            log_level=options["log_level"],
            lifespan="on",
        )
