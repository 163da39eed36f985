"""Connections to the user's databases."""

from django.db import models
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class DatasourceConfig(models.Model):
    """A database Nocoflo reads and edits (the architecture document's datasource_config)."""

    name = models.CharField(max_length=255, unique=True)
    datasource_type = models.CharField(
        max_length=64, db_index=True, help_text="The datasource plugin's scheme, e.g. sqlite."
    )
    connection_string = models.TextField(
        help_text="A database URL such as sqlite:////path/to/file.db. Passwords are never shown."
    )
    config_json = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "datasource"

    def __str__(self) -> str:
        return self.name

    def safe_connection_string(self) -> str:
        """The connection string with any password replaced, fit for pages, APIs and logs."""
        return mask_password(self.connection_string)

    safe_connection_string.short_description = "connection"


def mask_password(connection_string: str) -> str:
    try:
        return make_url(connection_string).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Not a URL we can parse: show no part of it that could hold a secret.
        return "(unparsable connection string)"
