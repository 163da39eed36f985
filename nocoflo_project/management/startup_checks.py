"""Commands that start or upgrade Nocoflo run every system check, but a broken plugin only gets
reported: at run time it is isolated (an error card, a notice), so it must keep neither the server
from starting nor `migrate` from upgrading. `manage.py check` still fails on it, for deployment
pipelines."""

from __future__ import annotations

from django.core import checks
from django.core.management.base import BaseCommand

from plugins_app.checks import PLUGINS_TAG


class PluginTolerantChecks:
    """Mixed into a command: its system checks fail on anything but plugin problems."""

    def check(self, app_configs=None, tags=None, display_num_errors=False, **kwargs):
        if tags is not None:
            return super().check(app_configs, tags, display_num_errors, **kwargs)
        others = sorted(checks.registry.registry.tags_available() - {PLUGINS_TAG})
        super().check(app_configs, others, display_num_errors, **kwargs)
        kwargs["fail_level"] = checks.CRITICAL
        return super().check(app_configs, [PLUGINS_TAG], False, **kwargs)


class StartupCommand(PluginTolerantChecks, BaseCommand):
    pass
