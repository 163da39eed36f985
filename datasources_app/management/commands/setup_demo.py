"""Build the demo SQLite database (once), register it as a datasource and discover its tables."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from datasources_app.demo_data import build_demo_database
from datasources_app.discovery import discover_tables
from datasources_app.models import DatasourceConfig

DEMO_NAME = "Demo shop"


class Command(BaseCommand):
    help = "Create the demo database and register it as the 'Demo shop' datasource."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=settings.NOCOFLO_DEMO_ORDERS)
        parser.add_argument("--rebuild", action="store_true", help="Build the file again.")

    def handle(self, *args, **options):
        path = settings.NOCOFLO_DEMO_DB
        if options["rebuild"] or not path.exists():
            self.stdout.write(f"Building the demo database at {path} ...")
            started = time.monotonic()
            counts = build_demo_database(path, orders=options["orders"])
            summary = ", ".join(f"{n} {t}" for t, n in counts.items())
            self.stdout.write(f"  {summary} in {time.monotonic() - started:.1f}s")
        config, created = DatasourceConfig.objects.get_or_create(
            name=DEMO_NAME,
            defaults={"datasource_type": "sqlite", "connection_string": f"sqlite:///{path}"},
        )
        if created or options["rebuild"] or not config.tables.exists():
            report = discover_tables(config)
            self.stdout.write(f"Datasource {config.name!r}: {report}")
