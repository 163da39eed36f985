"""Which view a table opens in, under each NOCOFLO_VIEW_SELECTION strategy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core import checks

from views_app import selection
from views_app.selection import choose_view, find_view, plugin_name

pytestmark = pytest.mark.unit


def views(*names: str) -> list[SimpleNamespace]:
    """Capable views, best first, as the plugin manager answers them."""
    return [SimpleNamespace(plugin_name=name) for name in names]


def chosen(found, requested, saved, strategy) -> str | None:
    view = choose_view(found, requested, saved, strategy)
    return None if view is None else view.plugin_name


CAPABLE = views("chart_view", "table_view", "form_view")


@pytest.mark.parametrize(
    ("requested", "saved", "expected"),
    [
        (None, None, "chart_view"),  # nothing asked, nothing saved: the highest priority
        ("form_view", "table_view", "form_view"),  # the address wins
        ("form", None, "form_view"),  # short names too
        (None, "table_view", "table_view"),  # then the saved choice
        ("gone_view", "table_view", "table_view"),  # an unknown address falls back
        (None, "gone_view", "chart_view"),  # a saved view no longer capable: the best one
    ],
)
def test_auto(requested, saved, expected):
    assert chosen(CAPABLE, requested, saved, "auto") == expected


@pytest.mark.parametrize(
    ("requested", "saved", "expected"),
    [
        (None, None, "chart_view"),
        (None, "table_view", "chart_view"),  # saved choices are ignored
        ("form_view", "table_view", "form_view"),  # the address, for that visit
        ("gone_view", None, "chart_view"),
    ],
)
def test_priority(requested, saved, expected):
    assert chosen(CAPABLE, requested, saved, "priority") == expected


@pytest.mark.parametrize(
    ("requested", "saved", "expected"),
    [
        (None, None, "table_view"),  # not the highest priority: the table view
        (None, "form_view", "form_view"),
        ("chart", "form_view", "chart_view"),
        (None, "gone_view", "table_view"),
    ],
)
def test_manual(requested, saved, expected):
    assert chosen(CAPABLE, requested, saved, "manual") == expected


def test_manual_without_the_table_view_takes_the_best():
    assert chosen(views("chart_view", "form_view"), None, None, "manual") == "chart_view"


@pytest.mark.parametrize("strategy", selection.STRATEGIES)
def test_no_capable_view(strategy):
    assert choose_view([], "table_view", "table_view", strategy) is None


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="use one of auto, manual, priority"):
        choose_view(CAPABLE, None, None, "random")


def test_names():
    assert plugin_name("chart") == "chart_view"
    assert plugin_name("chart_view") == "chart_view"
    assert plugin_name(" table ") == "table_view"
    assert plugin_name("") == ""
    assert find_view(CAPABLE, "table").plugin_name == "table_view"
    assert find_view(CAPABLE, "") is None
    assert find_view(CAPABLE, None) is None
    assert find_view(CAPABLE, "map") is None


def test_switcher_saves_choices_unless_by_priority(settings):
    assert selection.saves_choices("auto") and selection.saves_choices("manual")
    assert not selection.saves_choices("priority")
    settings.NOCOFLO_VIEW_SELECTION = "priority"
    assert selection.strategy() == "priority"
    assert not selection.saves_choices()


def test_system_check(settings):
    settings.NOCOFLO_VIEW_SELECTION = "auto"
    assert selection.check_strategy() == []
    settings.NOCOFLO_VIEW_SELECTION = "best"
    (error,) = selection.check_strategy()
    assert error.id == "nocoflo.E101" and "'best'" in error.msg
    # Registered with Django: `manage.py check` (and `serve`) report it.
    assert any(e.id == "nocoflo.E101" for e in checks.run_checks())
