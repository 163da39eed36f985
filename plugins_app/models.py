"""What admins control about each plugin."""

from django.db import models


class PluginConfig(models.Model):
    """A plugin Nocoflo found, whether it is enabled, and how it is doing."""

    class Health(models.TextChoices):
        OK = "ok"
        FAILING = "failing"
        FAILED_TO_LOAD = "failed to load"

    plugin_name = models.CharField(max_length=255, unique=True)
    kinds = models.CharField(max_length=64, blank=True, default="", help_text="view, datasource")
    source = models.CharField(max_length=255, blank=True, default="")
    enabled = models.BooleanField(default=True)
    config_json = models.JSONField(default=dict, blank=True)
    version = models.CharField(max_length=64, blank=True, default="")
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.OK)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Calls into the plugin's code and the seconds they took, summed over server processes.
    call_count = models.BigIntegerField(default=0)
    seconds_spent = models.FloatField(default=0.0)

    class Meta:
        ordering = ["plugin_name"]
        verbose_name = "plugin"

    def __str__(self) -> str:
        return self.plugin_name
