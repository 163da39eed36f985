"""`manage.py serve`: Nocoflo's one server process (Django and NiceGUI behind one dispatcher)."""

import logging
import os
import threading

import uvicorn
from django.conf import settings
from django.core.management import call_command
from uvicorn.config import LOG_LEVELS

from nocoflo_project.access_log import uvicorn_log_config
from nocoflo_project.management.commands.prepare import prepare
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

    from datasources_app.changes import seconds_until_settleable, settle

    stop = stop or threading.Event()
    while True:
        wait = every
        try:
            # Entries too young to settle now (a crash just before this start) are settled as
            # soon as they may be, not a whole interval later. Asked before settling, so an
            # entry that comes of age in between is settled now or on the next pass.
            soon = seconds_until_settleable()
            counts = settle()
            if counts["done"] or counts["failed"]:
                log.info("settled pending changes: %s", counts)
            if soon is not None and every is not None:
                wait = min(every, soon + 0.1)
        except Exception:
            log.exception("settling pending changes failed")
        finally:
            connection.close()
        if wait is None or stop.wait(wait):
            return


class AdminCheck(threading.Thread):
    """`manage.py ensure_admin` in a thread of its own; `finish` waits for it and raises what
    it raised, so a server never starts without its admin account."""

    def __init__(self, stdout) -> None:
        super().__init__(name="nocoflo-admin", daemon=True)
        self.out = stdout
        self.error: BaseException | None = None

    def run(self) -> None:
        from django.db import connection

        try:
            call_command("ensure_admin", stdout=self.out)
        except BaseException as exc:  # handed to finish(), in the command's thread
            self.error = exc
        finally:
            connection.close()

    def finish(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


class Command(StartupCommand):
    help = "Serve Nocoflo: pages, API and admin in one process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--reload", action="store_true", help="Restart on code changes.")
        parser.add_argument("--log-level", default="info", choices=list(LOG_LEVELS))
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
        admin = None
        if options["prepare"]:
            prepare(self.stdout, admin=False)
            # Checking NOCOFLO_ADMIN_PASSWORD against the stored hash is half a second of
            # PBKDF2, which lets go of the GIL: it runs while the application is built below.
            admin = AdminCheck(self.stdout)
            admin.start()
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
        if admin is not None:
            if not options["reload"]:  # with --reload the server builds it in a new process
                import nocoflo_project.asgi  # noqa: F401
            admin.finish()
        self.stdout.write(f"Nocoflo on http://{options['host']}:{options['port']}")
        uvicorn.run(
            "nocoflo_project.asgi:application",
            host=options["host"],
            port=options["port"],
            reload=options["reload"],
            log_level=options["log_level"],
            # The dispatcher writes each request's access line once its answer is sent.
            log_config=uvicorn_log_config(options["log_level"]),
            access_log=False,
            lifespan="on",
        )
