from django.contrib import admin, messages

from .manager import ESSENTIAL_PLUGINS, PluginError
from .models import PluginConfig
from .store import apply_enabled, sync_plugin_configs


@admin.register(PluginConfig)
class PluginConfigAdmin(admin.ModelAdmin):
    list_display = ("plugin_name", "kinds", "version", "enabled", "health", "source")
    list_filter = ("enabled", "health")
    search_fields = ("plugin_name",)
    readonly_fields = (
        "plugin_name", "kinds", "source", "version", "health", "last_error", "last_error_at",
    )  # fmt: skip
    fields = readonly_fields[:4] + ("enabled", "config_json") + readonly_fields[4:]

    def has_add_permission(self, request):
        return False  # plugins are found, not typed in

    def changelist_view(self, request, extra_context=None):
        sync_plugin_configs()
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        if not obj.enabled and obj.plugin_name in ESSENTIAL_PLUGINS:
            obj.enabled = True
            messages.warning(request, f"{obj.plugin_name} is essential and stays enabled.")
        try:
            apply_enabled(obj)
        except PluginError as exc:
            messages.error(request, str(exc))
        super().save_model(request, obj, form, change)
