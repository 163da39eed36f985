"""`manage.py prepare`: everything `scripts/run` does before serving, in one process."""

from django.core.management import call_command

from nocoflo_project.management.startup_checks import StartupCommand


def prepare(stdout, admin: bool = True) -> None:
    """Apply migrations, set up the demo datasource and (unless `admin` is false, for a caller
    that does it itself) make sure an admin account exists."""
    call_command("migrate", interactive=False, verbosity=0)
    call_command("setup_demo", stdout=stdout)
    if admin:
        call_command("ensure_admin", stdout=stdout)


class Command(StartupCommand):
    help = "Apply migrations, set up the demo datasource and make sure an admin account exists."

    def handle(self, *args, **options):
        prepare(self.stdout)
