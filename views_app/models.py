"""What each user chose about views: the view they prefer per table, each view's settings, and
their look (dark mode)."""

from django.conf import settings
from django.db import models


class ViewPreference(models.Model):
    """One user's view of one table: the view they chose and each view's settings."""

    table = models.ForeignKey(
        "core.TableMeta", on_delete=models.CASCADE, related_name="view_preferences"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="view_preferences"
    )
    # A view plugin's name ("table_view", "chart_view", ...); empty: none chosen yet.
    preferred_view = models.CharField(max_length=100, blank=True, default="")
    # Settings by view plugin name: {"table_view": {"columns": ..., "sort": ...}, "chart_view": ...}
    view_config_json = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "table_view_preference"
        constraints = [
            models.UniqueConstraint(fields=["table", "user"], name="one_preference_per_table")
        ]
        verbose_name = "view preference"

    def __str__(self) -> str:
        return f"{self.user} on {self.table}: {self.preferred_view or 'automatic'}"


class UserPreference(models.Model):
    """How Nocoflo looks for one user, whichever browser they use."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="nocoflo_preference"
    )
    dark_mode = models.BooleanField(default=False)

    class Meta:
        verbose_name = "user preference"

    def __str__(self) -> str:
        return f"{self.user}: {'dark' if self.dark_mode else 'light'}"
