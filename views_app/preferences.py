"""Each user's choices per table, kept in ViewPreference: the view they prefer and the settings
of each view (the grid's columns, sort and filters; a chart's axes). Synchronous: pages call
these in a thread."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.models import TableMeta

from .models import UserPreference, ViewPreference


def _preference(user: Any, table: TableMeta) -> ViewPreference | None:
    return ViewPreference.objects.filter(user=user, table=table).first()


def preferred_view(user: Any, table: TableMeta) -> str:
    """The view plugin the user chose for the table, or "" when they chose none."""
    found = _preference(user, table)
    return found.preferred_view if found else ""


def set_preferred_view(user: Any, table: TableMeta, view_name: str) -> None:
    ViewPreference.objects.update_or_create(
        user=user, table=table, defaults={"preferred_view": view_name}
    )


def view_config(user: Any, table: TableMeta, view_name: str) -> dict:
    """One view's saved settings for this user and table ({} when none)."""
    found = _preference(user, table)
    config = (found.view_config_json or {}).get(view_name) if found else None
    return dict(config) if isinstance(config, dict) else {}


def save_view_config(user: Any, table: TableMeta, view_name: str, config: dict) -> None:
    """Replace one view's settings, keeping the other views' settings."""
    with transaction.atomic():
        preference = _locked_preference(user, table, create=True)
        configs = dict(preference.view_config_json or {})
        configs[view_name] = config
        preference.view_config_json = configs
        preference.save(update_fields=["view_config_json", "updated_at"])


def forget_view_config(user: Any, table: TableMeta, view_name: str) -> None:
    """Drop one view's settings (the view opens as it would for a new user)."""
    with transaction.atomic():
        found = _locked_preference(user, table, create=False)
        if found is None or view_name not in (found.view_config_json or {}):
            return
        configs = dict(found.view_config_json)
        del configs[view_name]
        found.view_config_json = configs
        found.save(update_fields=["view_config_json", "updated_at"])


def _locked_preference(user: Any, table: TableMeta, create: bool) -> ViewPreference | None:
    """The user's preference row for the table, locked until the transaction ends.

    The settings of all views share one JSON field: two pages saving different views at once
    (the grid's columns and a chart's axes) must take turns, or one would write back the
    other's old settings."""
    if create:
        ViewPreference.objects.get_or_create(user=user, table=table)
    return ViewPreference.objects.select_for_update().filter(user=user, table=table).first()


def dark_mode(user: Any) -> bool:
    found = UserPreference.objects.filter(user=user).first()
    return bool(found and found.dark_mode)


def set_dark_mode(user: Any, on: bool) -> None:
    UserPreference.objects.update_or_create(user=user, defaults={"dark_mode": on})
