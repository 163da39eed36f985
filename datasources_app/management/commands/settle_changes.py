"""`manage.py settle_changes`: decide what audit entries left pending by a crash mean."""

from django.core.management.base import BaseCommand

from datasources_app.changes import settle


class Command(BaseCommand):
    help = "Settle pending audit entries by reading their rows (the server also does it at start)."

    def handle(self, *args, **options):
        counts = settle()
        self.stdout.write(
            f"Settled changes: {counts['done']} happened, {counts['failed']} did not, "
            f"{counts['unknown']} left pending (datasource unreachable or row not addressable)"
        )
