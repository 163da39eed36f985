"""Nocoflo's metadata about the user's tables: what exists, how it is shown."""

from django.conf import settings
from django.db import models

from .metadata_cache import RevisedQuerySet


class TableMeta(models.Model):
    """A table (or view) of a datasource, as discovered from the database."""

    # A lazy reference: core imports no other app of ours.
    datasource = models.ForeignKey(
        "datasources_app.DatasourceConfig", on_delete=models.CASCADE, related_name="tables"
    )
    schema = models.CharField(max_length=255, blank=True, default="")
    name = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, blank=True, default="")
    is_view = models.BooleanField(default=False)
    # Why the table cannot be edited (no primary key, a view...), empty when it can.
    read_only_reason = models.CharField(max_length=255, blank=True, default="")
    # The columns that identify a row: the primary key, or ["rowid"] on SQLite rowid tables.
    key_columns = models.JSONField(default=list, blank=True)
    visible = models.BooleanField(default=True)
    discovered_at = models.DateTimeField(auto_now=True)

    objects = RevisedQuerySet.as_manager()

    class Meta:
        ordering = ["datasource__name", "schema", "name"]
        constraints = [
            models.UniqueConstraint(fields=["datasource", "schema", "name"], name="unique_table")
        ]
        verbose_name = "table"
        # Granted to users or groups in the admin: they apply to every table.
        permissions = [
            ("read_rows", "Can read the rows of every table"),
            ("write_rows", "Can edit and add rows of every table"),
            ("delete_rows", "Can delete rows of every table"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @property
    def read_only(self) -> bool:
        return bool(self.read_only_reason) or self.datasource.read_only

    @property
    def read_only_message(self) -> str:
        """Why nothing can be written here (empty when it can)."""
        if self.read_only_reason:
            return self.read_only_reason
        if self.datasource.read_only:
            return f"The datasource {self.datasource.name} is read-only."
        return ""

    def table_config(self) -> dict:
        """What a datasource needs to find this table."""
        return {"name": self.name, "schema": self.schema or None, "key_columns": self.key_columns}


class ColumnMeta(models.Model):
    """A column of a table: its type as Nocoflo treats it, and how it is shown."""

    class Kind(models.TextChoices):
        INTEGER = "integer"
        REAL = "real"
        DECIMAL = "decimal"
        TEXT = "text"
        BOOLEAN = "boolean"
        DATE = "date"
        DATETIME = "datetime"
        TIME = "time"
        JSON = "json"
        UUID = "uuid"
        ENUM = "enum"
        ARRAY = "array"
        BINARY = "binary"
        OTHER = "other"

    table = models.ForeignKey(TableMeta, on_delete=models.CASCADE, related_name="columns")
    name = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TEXT)
    db_type = models.CharField(max_length=255, blank=True, default="")
    nullable = models.BooleanField(default=True)
    primary_key = models.BooleanField(default=False)
    default = models.CharField(max_length=255, blank=True, default="")
    max_length = models.PositiveIntegerField(null=True, blank=True)
    # "table.column" this column references, empty when it is no foreign key.
    references = models.CharField(max_length=511, blank=True, default="")
    # The values an enum column allows, as the database declares them.
    choices = models.JSONField(default=list, blank=True)
    visible = models.BooleanField(default=True)

    objects = RevisedQuerySet.as_manager()

    class Meta:
        ordering = ["table", "position"]
        constraints = [models.UniqueConstraint(fields=["table", "name"], name="unique_column")]
        verbose_name = "column"

    def __str__(self) -> str:
        return f"{self.table.name}.{self.name}"

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @property
    def editable(self) -> bool:
        # Binary and array values are shown (a size, a JSON list), never edited.
        return not self.primary_key and self.kind not in (self.Kind.BINARY, self.Kind.ARRAY)


class TableGrant(models.Model):
    """What one user, or the members of one group, may do with one table."""

    table = models.ForeignKey(TableMeta, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="table_grants",
    )
    group = models.ForeignKey(
        "auth.Group", on_delete=models.CASCADE, null=True, blank=True, related_name="table_grants"
    )
    can_read = models.BooleanField(default=True)
    can_write = models.BooleanField(default=False)
    can_delete = models.BooleanField(default=False)
    # Owners may do everything with the table, see its hidden columns and share it.
    is_owner = models.BooleanField(default=False)

    objects = RevisedQuerySet.as_manager()

    class Meta:
        ordering = ["table", "user__username", "group__name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="grant_to_user_or_group",
            ),
            models.UniqueConstraint(fields=["table", "user"], name="unique_user_grant"),
            models.UniqueConstraint(fields=["table", "group"], name="unique_group_grant"),
        ]
        verbose_name = "table grant"

    def __str__(self) -> str:
        return f"{self.holder} on {self.table}: {', '.join(self.permissions) or 'nothing'}"

    @property
    def holder(self) -> str:
        return f"user {self.user}" if self.user_id else f"group {self.group}"

    @property
    def permissions(self) -> list[str]:
        """The granted actions, as the API names them."""
        flags = (self.can_read, self.can_write, self.can_delete, self.is_owner)
        return [a for a, on in zip(("read", "write", "delete", "owner"), flags, strict=True) if on]


# A row key as the API spells it (datasources_app.values.encode_key). 700 characters keep the
# (table, row_key) index inside MySQL's 3072-byte limit in utf8mb4.
ROW_KEY_LENGTH = 700


class Change(models.Model):
    """One change made through Nocoflo: an insert, a delete, or one cell of an update.

    The user's data and this log live in two databases, so an entry is written `pending` before
    the data and set `done` (or `failed`) after; `core.audit.settle` decides what a crash left.
    """

    class Action(models.TextChoices):
        INSERT = "insert"
        UPDATE = "update"
        DELETE = "delete"

    class State(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    # Kept when the table's metadata goes: the history outlives discovery.
    table = models.ForeignKey(
        TableMeta, on_delete=models.SET_NULL, null=True, related_name="changes"
    )
    table_label = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="changes"
    )
    username = models.CharField(max_length=150)
    at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=8, choices=Action.choices)
    row_key = models.CharField(max_length=ROW_KEY_LENGTH, blank=True, default="")
    # Empty for inserts and deletes, whose old or new value is the whole row.
    column = models.CharField(max_length=255, blank=True, default="")
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    # The entries of one write share a batch (an update of several cells).
    batch = models.UUIDField(db_index=True)
    reverts = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reverted_by"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["table", "-at"], name="change_table_at"),
            models.Index(fields=["table", "row_key"], name="change_table_row"),
            models.Index(fields=["state"], name="change_state"),
        ]
        verbose_name = "change"

    def __str__(self) -> str:
        what = f"{self.action} {self.table_label} row {self.row_key}"
        return f"{what}.{self.column}" if self.column else what


class RowLock(models.Model):
    """A lease on one row while someone edits it; unique per row, so it holds across processes."""

    table = models.ForeignKey(TableMeta, on_delete=models.CASCADE, related_name="locks")
    row_key = models.CharField(max_length=ROW_KEY_LENGTH)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="row_locks"
    )
    # Which editor holds it: one open page, or one API client.
    holder = models.CharField(max_length=64)
    acquired_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["table", "row_key"], name="one_lock_per_row")
        ]
        verbose_name = "row lock"

    def __str__(self) -> str:
        return f"{self.table} row {self.row_key}, held by {self.user}"


class Viewer(models.Model):
    """Someone with a table open, seen recently: who else is here."""

    table = models.ForeignKey(TableMeta, on_delete=models.CASCADE, related_name="viewers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    client = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "viewer"

    def __str__(self) -> str:
        return f"{self.user} viewing {self.table}"


class Invite(models.Model):
    """An invitation for someone to register, with the access they start with."""

    email = models.EmailField()
    # Only a hash: the token itself is shown once, in the invite link.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="invites_sent",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # A table invite grants these on the table; groups give whatever the groups have.
    table = models.ForeignKey(
        TableMeta, on_delete=models.CASCADE, null=True, blank=True, related_name="invites"
    )
    can_read = models.BooleanField(default=True)
    can_write = models.BooleanField(default=False)
    can_delete = models.BooleanField(default=False)
    is_owner = models.BooleanField(default=False)
    groups = models.ManyToManyField("auth.Group", blank=True, related_name="+")
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "invite"

    def __str__(self) -> str:
        return f"invite for {self.email}"


class ApiToken(models.Model):
    """A token a program sends as `Authorization: Bearer nf_...` to act as its user in the API.

    Only a SHA-256 digest is kept: the token is shown once, when it is made. It carries the
    user's own table rights, and only reads them unless it may write.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    can_write = models.BooleanField(default=False)
    # The token's first characters, to recognise it in a list ("nf_AbCd…").
    prefix = models.CharField(max_length=8, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"

    @property
    def scopes(self) -> list[str]:
        return ["read", "write"] if self.can_write else ["read"]

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class SignInFailure(models.Model):
    """One failed sign-in, kept while it can still count towards a lock (core/throttle.py).

    Kept in the metadata database so that every server process counts the same failures.
    """

    username = models.CharField(max_length=150, db_index=True)  # as typed, lower-cased
    address = models.CharField(max_length=64, db_index=True)  # the client's IP address
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = "failed sign-in"

    def __str__(self) -> str:
        return f"failed sign-in as {self.username} from {self.address} at {self.at}"


class MetadataRevision(models.Model):
    """One row whose token changes with every change to the metadata that requests read (users,
    groups, permissions, sessions, datasources, tables, columns, grants): see core/metadata_cache.

    A random token, not a counter: a transaction that is rolled back cannot bring back a value
    under which another state was remembered.
    """

    token = models.CharField(max_length=32)

    class Meta:
        verbose_name = "metadata revision"

    def __str__(self) -> str:
        return self.token
