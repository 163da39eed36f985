from django.contrib import admin

from .models import Change, ColumnMeta, RowLock, TableGrant, TableMeta


class ColumnMetaInline(admin.TabularInline):
    model = ColumnMeta
    extra = 0
    can_delete = False
    fields = ("name", "display_name", "kind", "db_type", "nullable", "primary_key", "visible")
    readonly_fields = ("name", "kind", "db_type", "nullable", "primary_key")

    def has_add_permission(self, request, obj=None):
        return False  # columns come from the database by discovery


class TableGrantInline(admin.TabularInline):
    model = TableGrant
    extra = 0
    fields = ("user", "group", "can_read", "can_write", "can_delete", "is_owner")
    autocomplete_fields = ("user", "group")
    verbose_name_plural = "who may use this table"


@admin.register(TableMeta)
class TableMetaAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "display_name",
        "datasource",
        "schema",
        "is_view",
        "visible",
        "editable",
    )
    list_filter = ("datasource", "visible", "is_view")
    search_fields = ("name", "display_name")
    fields = (
        "datasource", "schema", "name", "display_name", "visible", "is_view", "key_columns",
        "read_only_reason", "discovered_at",
    )  # fmt: skip
    readonly_fields = (
        "datasource", "schema", "name", "is_view", "key_columns", "read_only_reason",
        "discovered_at",
    )  # fmt: skip
    inlines = [ColumnMetaInline, TableGrantInline]

    def has_add_permission(self, request):
        return False  # tables come from the database by discovery

    @admin.display(boolean=True)
    def editable(self, obj):
        return not obj.read_only


@admin.register(ColumnMeta)
class ColumnMetaAdmin(admin.ModelAdmin):
    list_display = ("name", "table", "display_name", "kind", "nullable", "primary_key", "visible")
    list_filter = ("kind", "visible", "table__datasource")
    search_fields = ("name", "display_name", "table__name")
    fields = ("table", "name", "display_name", "visible", "kind", "db_type", "nullable",
              "primary_key", "default", "max_length", "references", "choices")  # fmt: skip
    readonly_fields = ("table", "name", "kind", "db_type", "nullable", "primary_key", "default",
                       "max_length", "references", "choices")  # fmt: skip

    def has_add_permission(self, request):
        return False


@admin.register(TableGrant)
class TableGrantAdmin(admin.ModelAdmin):
    list_display = ("table", "user", "group", "can_read", "can_write", "can_delete", "is_owner")
    list_filter = ("is_owner", "can_write", "can_delete", "table__datasource")
    search_fields = ("table__name", "user__username", "group__name")
    autocomplete_fields = ("table", "user", "group")


@admin.register(Change)
class ChangeAdmin(admin.ModelAdmin):
    """The audit log: read-only. Changes are undone by reverting them, never by editing here."""

    list_display = ("at", "username", "action", "table_label", "row_key", "column", "state")
    list_filter = ("action", "state", "table")
    search_fields = ("username", "table_label", "row_key", "column")
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RowLock)
class RowLockAdmin(admin.ModelAdmin):
    """Rows being edited; deleting a lock breaks it, and the editor's next save is refused
    only if someone else changed the row meanwhile (compare-and-set still guards it)."""

    list_display = ("table", "row_key", "user", "acquired_at", "expires_at")
    list_filter = ("table",)
    readonly_fields = ("table", "row_key", "user", "holder", "acquired_at", "expires_at")
    actions = ["break_locks"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Break the selected locks", permissions=["delete"])
    def break_locks(self, request, queryset):
        from . import locks

        count = 0
        for lock in queryset.select_related("table", "user"):
            locks.break_lock(lock.table, lock.row_key, request.user)
            count += 1
        self.message_user(request, f"Broke {count} lock{'s' if count != 1 else ''}.")
