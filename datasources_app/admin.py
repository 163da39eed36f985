from django import forms
from django.contrib import admin, messages
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from plugins_app.manager import get_manager

from .connections import datasource_for
from .discovery import discover_tables
from .errors import DatasourceError
from .models import DatasourceConfig, mask_password

MASK = "***"


class DatasourceForm(forms.ModelForm):
    """Shows the connection string with its password masked; a masked password is kept as is."""

    connection_string = forms.CharField(
        widget=forms.TextInput(attrs={"size": 80, "autocomplete": "off"}),
        help_text="A database URL, e.g. sqlite:////srv/data/shop.db. "
        "Leave the *** in place to keep the stored password.",
    )

    class Meta:
        model = DatasourceConfig
        fields = ("name", "datasource_type", "connection_string", "config_json", "enabled")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["connection_string"] = mask_password(self.instance.connection_string)

    def clean_connection_string(self):
        value = self.cleaned_data["connection_string"].strip()
        try:
            url = make_url(value)
        except (ArgumentError, ValueError) as exc:
            raise forms.ValidationError("This is not a database URL") from exc
        if url.password == MASK and self.instance.pk:
            stored = make_url(self.instance.connection_string)
            value = url.set(password=stored.password).render_as_string(hide_password=False)
        return value

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("datasource_type", "")
        if kind and kind.split("+")[0].lower() not in get_manager().datasource_classes():
            known = ", ".join(sorted(get_manager().datasource_classes()))
            self.add_error("datasource_type", f"No enabled datasource plugin for it ({known})")
        return cleaned


@admin.register(DatasourceConfig)
class DatasourceConfigAdmin(admin.ModelAdmin):
    form = DatasourceForm
    list_display = ("name", "datasource_type", "safe_connection_string", "enabled", "table_count")
    list_filter = ("datasource_type", "enabled")
    search_fields = ("name",)
    actions = ("test_connection", "discover")

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

    @admin.action(description="Discover tables")
    def discover(self, request, queryset):
        for config in queryset:
            try:
                report = discover_tables(config)
                self.message_user(request, f"{config.name}: {report}")
            except DatasourceError as exc:
                self.message_user(request, f"{config.name}: {exc}", messages.ERROR)
