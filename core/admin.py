from django.contrib import admin

from .models import ColumnMeta, TableGrant, TableMeta


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
