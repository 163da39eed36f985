"""`manage.py migrate`, Django's, except that a broken plugin is reported, not fatal."""

from django.core.management.commands.migrate import Command as DjangoMigrate

from nocoflo_project.management.startup_checks import PluginTolerantChecks


class Command(PluginTolerantChecks, DjangoMigrate):
    pass
