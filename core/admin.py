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


# --- invites ------------------------------------------------------------------------------------

from django import forms  # noqa: E402
from django.contrib import messages  # noqa: E402
from django.utils.html import format_html  # noqa: E402

from . import invites  # noqa: E402
from .models import Invite  # noqa: E402


class InviteAddForm(forms.ModelForm):
    """A new invite: the token is made when it is saved, never typed or shown in a field."""

    permissions = forms.MultipleChoiceField(
        choices=[(p, p) for p in invites.PERMISSIONS],
        initial=["read"],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="On the table above (write, delete and owner include read). Leave the table "
        "empty to give only what the groups have.",
    )
    days = forms.IntegerField(
        min_value=invites.MIN_DAYS,
        max_value=invites.MAX_DAYS,
        initial=7,
        help_text="The link stops working after this many days.",
    )

    class Meta:
        model = Invite
        fields = ("email", "table", "groups")

    # Set by InviteAdmin.get_form: the rules depend on who invites.
    request = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        table = data.get("table")
        try:
            invites.check_invite(
                self.request.user,
                data.get("email", ""),
                table,
                data.get("permissions") if table else [],
                list(data.get("groups") or ()),
                data.get("days"),
            )
        except invites.InviteError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    """Invites by email. The link is shown once, when the invite is added; used ones are history."""

    list_display = (
        "email", "table", "permission_list", "created_by", "created_at", "expires_at", "used_at",
    )  # fmt: skip
    list_filter = ("table", "used_at", "expires_at")
    search_fields = ("email", "table__name", "created_by__username")
    date_hierarchy = "created_at"
    autocomplete_fields = ("table", "groups")
    add_form = InviteAddForm
    add_fields = ("email", "table", "permissions", "groups", "days")
    fields = (
        "email", "table", "can_read", "can_write", "can_delete", "is_owner", "groups",
        "created_by", "created_at", "expires_at", "used_at", "used_by",
    )  # fmt: skip
    readonly_fields = ("email", "table", "created_by", "created_at", "used_at", "used_by")

    @admin.display(description="permissions")
    def permission_list(self, obj):
        return ", ".join(invites.permissions_of(obj)) if obj.table_id else "—"

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, **kwargs)
        form.request = request
        return form

    def has_change_permission(self, request, obj=None):
        # A used invite is a record of who registered how: it stays as it was.
        if obj is not None and obj.used_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            if obj.can_write or obj.can_delete or obj.is_owner:
                obj.can_read = True
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        sent = invites.invite_by_email(
            request.user,
            request,
            data["email"],
            data.get("table"),
            data.get("permissions") if data.get("table") else [],
            list(data.get("groups") or ()),
            data["days"],
        )
        # The admin goes on with the saved invite (its groups, its log entry, its messages).
        obj.pk = sent.invite.pk
        obj.refresh_from_db()
        obj._state.adding = False
        self.message_user(
            request,
            format_html(
                'Invite link for {} (shown only this once): <a href="{}" class="invite-link">'
                "{}</a>",
                obj.email,
                sent.link,
                sent.link,
            ),
            messages.SUCCESS,
        )
        if sent.emailed:
            self.message_user(request, f"The invite was emailed to {obj.email}.", messages.INFO)
        else:
            self.message_user(request, sent.email_problem, messages.WARNING)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("table", "created_by")


# --- API tokens ---------------------------------------------------------------------------------

from .models import ApiToken  # noqa: E402


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Users' API tokens: read-only (never the digest), revoked by the action. Users make their
    own tokens on their *API tokens* page; nobody adds them here."""

    list_display = ("name", "user", "scope_list", "prefix", "created_at", "last_used_at",
                    "revoked_at")  # fmt: skip
    list_filter = ("can_write", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "user__username")
    date_hierarchy = "created_at"
    fields = ("user", "name", "can_write", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke_tokens"]

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the list says which tokens there were

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        from . import tokens

        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            tokens.revoke(token, request.user)
            count += 1
        self.message_user(request, f"Revoked {count} token{'s' if count != 1 else ''}.")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")
