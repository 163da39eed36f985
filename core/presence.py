"""Who else has a table open: one `Viewer` row per open page, kept fresh by the page's heartbeat.

The rows live in the metadata database, so every server process sees every viewer; a
{"type": "presence"} event on the table's channel tells the other pages to read the list again
when someone arrives or leaves. A page that died without saying goodbye drops out of the list
once its heartbeat is older than `within_seconds`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from . import events
from .models import TableMeta, Viewer

# Rows of pages that vanished (a crashed process) are swept once they are this old.
FORGET_AFTER = timedelta(hours=1)


def seen(table: TableMeta, user: Any, client: str) -> bool:
    """Record that `client` (one open page of `user`) shows `table` now; answers whether the page
    just arrived (others are told)."""
    now = timezone.now()
    viewer, created = Viewer.objects.update_or_create(
        client=client, defaults={"table": table, "user": user, "seen_at": now}
    )
    if created:
        Viewer.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
        _announce(table.pk, user.get_username(), client, "join")
    return created


def gone(client: str) -> bool:
    """The page `client` closed; answers whether it was here."""
    left = list(Viewer.objects.filter(client=client).select_related("user"))
    Viewer.objects.filter(client=client).delete()
    for viewer in left:
        _announce(viewer.table_id, viewer.user.get_username(), client, "leave")
    return bool(left)


def viewers(
    table: TableMeta, excluding_client: str | None = None, within_seconds: float = 45
) -> list[str]:
    """The usernames of everyone with `table` open and a recent heartbeat, sorted, each once."""
    recent = Viewer.objects.filter(
        table=table, seen_at__gte=timezone.now() - timedelta(seconds=within_seconds)
    )
    if excluding_client is not None:
        recent = recent.exclude(client=excluding_client)
    field = "user__" + get_user_model().USERNAME_FIELD
    names = recent.values_list(field, flat=True).distinct()
    return sorted(set(names))


def _announce(table_id: int, username: str, client: str, change: str) -> None:
    events.publish(
        table_id, {"type": "presence", "change": change, "user": username, "holder": client}
    )
