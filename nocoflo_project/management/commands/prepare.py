"""`manage.py prepare`: everything `scripts/run` does before serving, in one process."""

from django.core.management import call_command

from nocoflo_project.management.startup_checks import StartupCommand


class Command(StartupCommand):
    help = "Apply migrations, set up the demo datasource and make sure an admin account exists."

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("setup_demo", stdout=self.stdout)
        call_command("ensure_admin", stdout=self.stdout)
