from django import forms
from django.contrib import admin, messages
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from plugins_app.manager import get_manager

from .connections import check_options, datasource_for
from .discovery import discover_tables
from .errors import DatasourceError, DatasourceUnavailable
from .models import DatasourceConfig, build_url


class DatasourceForm(forms.ModelForm):
    """A datasource as a URL, or as host, port, database, user and password.

    The stored password is never sent to the browser; leaving the password empty keeps it.
    """

    connection_string = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"size": 80, "autocomplete": "off"}),
        help_text="A database URL, e.g. postgresql://bob@db.example.com:5432/shop or "
        "sqlite:////srv/data/shop.db. Or leave it empty and fill in the fields below.",
    )
    host = forms.CharField(required=False)
    port = forms.IntegerField(required=False, min_value=1, max_value=65535)
    database = forms.CharField(required=False, help_text="Database name (SQLite: file path).")
    username = forms.CharField(required=False)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave empty to keep the stored password.",
    )

    class Meta:
        model = DatasourceConfig
        fields = ("name", "datasource_type", "connection_string", "config_json", "enabled",
                  "read_only")  # fmt: skip

    def clean_config_json(self):
        options = self.cleaned_data.get("config_json")
        if options in (None, ""):
            return {}
        if not isinstance(options, dict):
            raise forms.ValidationError(
                'The options are a JSON object of names and values, e.g. {"statement_timeout": 5}'
            )
        return options

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("datasource_type", "")
        manager = get_manager()
        if kind and not manager.datasource_plugin_name(kind):
            known = ", ".join(sorted(manager.datasource_classes()))
            self.add_error("datasource_type", f"No enabled datasource plugin for it ({known})")
        url = (cleaned.get("connection_string") or "").strip()
        if not url and cleaned.get("database"):
            url = build_url(
                kind, cleaned.get("host", ""), cleaned.get("port"), cleaned["database"],
                cleaned.get("username", ""),
            )  # fmt: skip
        if not url:
            self.add_error("connection_string", "Give a URL, or at least a database.")
            return cleaned
        try:
            make_url(url)
        except (ArgumentError, ValueError):
            self.add_error("connection_string", "This is not a database URL")
            return cleaned
        cleaned["connection_string"] = url
        if kind and not self.has_error("datasource_type") and "config_json" in cleaned:
            self._check_options(kind, url, cleaned["config_json"])
        return cleaned

    def _check_options(self, kind: str, url: str, options: dict) -> None:
        """A wrong option is refused here, by its name, not when someone opens a table. The
        database is not connected to: one that is down now may still be saved."""
        trial = DatasourceConfig(datasource_type=kind, config_json=options)
        trial.set_connection(url)
        try:
            check_options(trial)
        except DatasourceUnavailable:
            pass
        except DatasourceError as exc:
            self.add_error("config_json", str(exc))

    def save(self, commit=True):
        config = super().save(commit=False)
        password = self.cleaned_data.get("password") or None
        config.set_connection(self.cleaned_data["connection_string"], password)
        if commit:
            config.save()
        return config


@admin.register(DatasourceConfig)
class DatasourceConfigAdmin(admin.ModelAdmin):
    form = DatasourceForm
    list_display = ("name", "datasource_type", "safe_connection_string", "enabled", "read_only",
                    "table_count")  # fmt: skip
    list_filter = ("datasource_type", "enabled", "read_only")
    search_fields = ("name",)
    actions = ("test_connection", "sync_schema")
    fieldsets = (
        (None, {"fields": ("name", "datasource_type", "enabled", "read_only")}),
        ("Connection as a URL", {"fields": ("connection_string",)}),
        ("…or as fields", {"fields": ("host", "port", "database", "username", "password")}),
        ("Options", {"fields": ("config_json",), "classes": ("collapse",)}),
    )

    @admin.display(description="tables")
    def table_count(self, obj):
        return obj.tables.count()

    @admin.action(description="Test connection")
    def test_connection(self, request, queryset):
        for config in queryset:
            try:
                datasource_for(config).test_connection()
                self.message_user(request, f"{config.name}: connection works")
            except DatasourceError as exc:
                self.message_user(request, f"{config.name}: {exc}", messages.ERROR)

    @admin.action(description="Sync schema (discover tables)")
    def sync_schema(self, request, queryset):
        for config in queryset:
            try:
                report = discover_tables(config)
                self.message_user(request, f"{config.name}: {report}")
            except DatasourceError as exc:
                self.message_user(request, f"{config.name}: {exc}", messages.ERROR)
