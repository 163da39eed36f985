"""Connections to the user's databases."""

from django.db import models
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from core import crypto
from core.metadata_cache import RevisedQuerySet


class DatasourceConfig(models.Model):
    """A database Nocoflo reads and edits (the architecture document's datasource_config).

    The password never stays in `connection_string`: it is kept apart, encrypted
    (`core.crypto`), and only joined back in memory to connect.
    """

    name = models.CharField(max_length=255, unique=True)
    datasource_type = models.CharField(
        max_length=64, db_index=True, help_text="The datasource plugin's scheme, e.g. sqlite."
    )
    connection_string = models.TextField(
        help_text="A database URL such as sqlite:////path/to/file.db. Passwords are never shown."
    )
    password_encrypted = models.TextField(blank=True, default="", editable=False)
    config_json = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    read_only = models.BooleanField(
        default=False, help_text="Nothing can be written through this datasource."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RevisedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "datasource"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # A password typed into the URL is moved out before anything is written.
        if split_password(self.connection_string)[1] is not None:
            self.set_connection(self.connection_string)
        super().save(*args, **kwargs)

    def set_connection(self, connection_string: str, password: str | None = None) -> None:
        """Store a URL: its password (or `password`) encrypted apart, the rest as text.

        A URL whose password is None keeps the stored password."""
        url, url_password = split_password(connection_string)
        secret = password if password is not None else url_password
        self.connection_string = url
        if secret is not None:
            self.password_encrypted = crypto.encrypt(secret)

    def connection_url(self) -> str:
        """The URL with its password, to connect with; never for display."""
        password = crypto.decrypt(self.password_encrypted)
        if not password:
            return self.connection_string
        url = make_url(self.connection_string).set(password=password)
        return url.render_as_string(hide_password=False)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def safe_connection_string(self) -> str:
        """The connection string with any password masked, fit for pages, APIs and logs."""
        shown = mask_password(self.connection_string)
        if self.has_password and "@" in shown:
            url = make_url(self.connection_string)
            return url.set(password="***").render_as_string(hide_password=True)
        return shown

    safe_connection_string.short_description = "connection"


def split_password(connection_string: str) -> tuple[str, str | None]:
    """(the URL without its password, the password or None when it has none)."""
    try:
        url = make_url(connection_string)
    except (ArgumentError, ValueError):
        return connection_string, None
    if url.password is None:
        return connection_string, None
    password = url.password if isinstance(url.password, str) else str(url.password)
    # URL.set(password=None) would keep the password; the named tuple's _replace drops it.
    return url._replace(password=None).render_as_string(hide_password=False), password


def build_url(
    datasource_type: str, host: str, port: int | None, database: str, username: str
) -> str:
    """A URL from separate fields (the password is stored apart)."""
    return URL.create(
        drivername=datasource_type,
        username=username or None,
        host=host or None,
        port=port or None,
        database=database or None,
    ).render_as_string(hide_password=False)


def mask_password(connection_string: str) -> str:
    try:
        return make_url(connection_string).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Not a URL we can parse: show no part of it that could hold a secret.
        return "(unparsable connection string)"
