"""core.presence: who else has a table open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core import presence
from core.models import Viewer

pytestmark = pytest.mark.integration


def test_viewers_are_distinct_sorted_and_exclude_the_asking_page(orders, tables, ann, bob, heard):
    assert presence.seen(orders, bob, "page-1") is True
    assert presence.seen(orders, ann, "page-2") is True
    assert presence.seen(orders, ann, "page-3") is True  # a second tab of ann's
    assert presence.seen(tables["customers"], bob, "page-4") is True
    assert presence.viewers(orders) == ["ann", "bob"]
    assert presence.viewers(orders, excluding_client="page-1") == ["ann"]
    assert presence.viewers(orders, excluding_client="page-2") == ["ann", "bob"]
    assert presence.viewers(tables["customers"]) == ["bob"]


def test_arriving_and_leaving_are_announced_once(orders, ann, heard):
    presence.seen(orders, ann, "page-1")
    assert presence.seen(orders, ann, "page-1") is False  # a heartbeat: nothing new
    assert [e["type"] for e in heard] == ["presence"]
    assert heard[0] == {
        "type": "presence", "change": "join", "user": "ann", "holder": "page-1",
        "table": orders.pk,
    }  # fmt: skip
    assert presence.gone("page-1") is True
    assert presence.gone("page-1") is False
    assert [e.get("change") for e in heard] == ["join", "leave"]
    assert presence.viewers(orders) == []


def test_a_heartbeat_keeps_a_page_listed(orders, ann):
    presence.seen(orders, ann, "page-1")
    Viewer.objects.update(seen_at=timezone.now() - timedelta(seconds=40))
    assert presence.viewers(orders) == ["ann"]
    assert presence.viewers(orders, within_seconds=30) == []
    presence.seen(orders, ann, "page-1")
    assert presence.viewers(orders, within_seconds=30) == ["ann"]


def test_silent_pages_drop_out_and_are_swept(orders, ann, bob):
    presence.seen(orders, ann, "page-1")
    Viewer.objects.update(seen_at=timezone.now() - timedelta(minutes=2))
    assert presence.viewers(orders) == []  # its process died without saying goodbye
    Viewer.objects.update(seen_at=timezone.now() - presence.FORGET_AFTER - timedelta(minutes=1))
    presence.seen(orders, bob, "page-2")
    assert list(Viewer.objects.values_list("client", flat=True)) == ["page-2"]


def test_a_page_that_moves_to_another_table(orders, tables, ann):
    presence.seen(orders, ann, "page-1")
    presence.seen(tables["customers"], ann, "page-1")
    assert presence.viewers(orders) == []
    assert presence.viewers(tables["customers"]) == ["ann"]
