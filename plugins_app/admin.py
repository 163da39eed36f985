"""The plugins page of the admin: every plugin found, its health and use; enable, disable and
configure it, taking effect at once."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from .manager import ESSENTIAL_PLUGINS, PluginError, get_manager
from .models import PluginConfig
from .store import apply_admin_change, sync_plugin_configs


class PluginConfigForm(forms.ModelForm):
    class Meta:
        model = PluginConfig
        fields = ("enabled", "config_json")
        labels = {"config_json": "Configuration"}
        help_texts = {"config_json": "JSON; checked against the schema the plugin declares."}

    def clean_config_json(self):
        config = self.cleaned_data["config_json"]
        if config in (None, ""):
            config = {}
        try:
            get_manager().validate_config(self.instance.plugin_name, config)
        except PluginError as exc:
            raise forms.ValidationError(str(exc)) from None
        return config

    def clean_enabled(self):
        enabled = self.cleaned_data["enabled"]
        if not enabled and self.instance.plugin_name in ESSENTIAL_PLUGINS:
            raise forms.ValidationError(
                f"{self.instance.plugin_name} is essential to Nocoflo and cannot be disabled."
            )
        return enabled


@admin.register(PluginConfig)
class PluginConfigAdmin(admin.ModelAdmin):
    form = PluginConfigForm
    list_display = (
        "plugin_name", "kinds", "version", "enabled", "health", "calls", "time_spent",
        "last_error_at", "source",
    )  # fmt: skip
    list_filter = ("enabled", "health")
    search_fields = ("plugin_name",)
    readonly_fields = (
        "plugin_name", "kinds", "source", "version", "health", "last_error", "last_error_at",
        "calls", "time_spent", "configuration_schema",
    )  # fmt: skip
    fields = readonly_fields[:4] + ("enabled", "config_json", "configuration_schema") + (
        "health", "last_error", "last_error_at", "calls", "time_spent",
    )  # fmt: skip
    actions = ("enable_plugins", "disable_plugins")

    def has_add_permission(self, request):
        return False  # plugins are found, not typed in

    def changelist_view(self, request, extra_context=None):
        sync_plugin_configs()
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        sync_plugin_configs()
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        try:
            apply_admin_change(obj)
        except PluginError as exc:
            messages.error(request, str(exc))
        super().save_model(request, obj, form, change)

    @admin.display(description="calls", ordering="call_count")
    def calls(self, obj: PluginConfig) -> int:
        return obj.call_count

    @admin.display(description="time spent", ordering="seconds_spent")
    def time_spent(self, obj: PluginConfig) -> str:
        return f"{obj.seconds_spent:.3f} s"

    @admin.display(description="configuration schema")
    def configuration_schema(self, obj: PluginConfig) -> str:
        try:
            schema = get_manager().config_schema(obj.plugin_name)
        except PluginError as exc:
            return str(exc)
        if not schema:
            return "The plugin declares no schema: any JSON object is accepted."
        return format_html("<pre>{}</pre>", json.dumps(schema, indent=2))

    def _switch(self, request, queryset, enabled: bool) -> None:
        manager = get_manager()
        changed = []
        for config in queryset:
            if config.enabled == enabled:
                continue
            if not enabled and config.plugin_name in ESSENTIAL_PLUGINS:
                messages.warning(request, f"{config.plugin_name} is essential and stays enabled.")
                continue
            if (
                config.plugin_name not in manager.plugins
                or manager.plugins[config.plugin_name].obj is None
            ):
                messages.warning(request, f"{config.plugin_name} is not loaded; it cannot run.")
                continue
            config.enabled = enabled
            config.save(update_fields=["enabled"])
            manager.set_enabled(config.plugin_name, enabled)
            changed.append(config.plugin_name)
        if changed:
            word = "Enabled" if enabled else "Disabled"
            messages.success(request, f"{word}: {', '.join(changed)}.")

    @admin.action(description="Enable the selected plugins")
    def enable_plugins(self, request, queryset):
        self._switch(request, queryset, True)

    @admin.action(description="Disable the selected plugins")
    def disable_plugins(self, request, queryset):
        self._switch(request, queryset, False)
