"""Which view a table opens in: the `NOCOFLO_VIEW_SELECTION` strategy (the architecture
document's `view_selection_strategy`) applied to the views that can show the table.

- `auto`: a view asked for in the address (`?view=`), else the user's saved choice, else the
  capable view with the highest priority.
- `priority`: the address for that visit, otherwise always the highest priority; saved choices
  are ignored.
- `manual`: the address or the user's saved choice, else the table view: nothing picks a view
  for the user beyond that default.

A view that cannot show the table (or whose plugin was disabled) is never chosen: the next rule
applies instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks

STRATEGIES = ("auto", "manual", "priority")
DEFAULT_STRATEGY = "auto"
# The view every table can be shown in: manual selection's default.
DEFAULT_VIEW = "table_view"
VIEW_SUFFIX = "_view"


def strategy() -> str:
    return getattr(settings, "NOCOFLO_VIEW_SELECTION", DEFAULT_STRATEGY)


def saves_choices(chosen_strategy: str | None = None) -> bool:
    """Whether choosing a view in the switcher becomes the user's preference."""
    return (chosen_strategy or strategy()) != "priority"


def plugin_name(view_type: str) -> str:
    """A view plugin's name from the short form people write: "chart" -> "chart_view"."""
    name = (view_type or "").strip()
    return name if not name or name.endswith(VIEW_SUFFIX) else name + VIEW_SUFFIX


def find_view(views: Sequence[Any], name: str | None) -> Any | None:
    """The view called `name` ("table" or "table_view") among `views`, or None."""
    if not name:
        return None
    wanted = {name, plugin_name(name)}
    return next((view for view in views if view.plugin_name in wanted), None)


def choose_view(
    views: Sequence[Any], requested: str | None, saved: str | None, chosen_strategy: str
) -> Any | None:
    """The view to open among `views` (the capable views, best first); None when there is none.

    `requested` is the address's `?view=`, `saved` the user's preference (either may be empty).
    """
    if chosen_strategy not in STRATEGIES:
        choices = ", ".join(STRATEGIES)
        raise ValueError(f"Unknown view selection {chosen_strategy!r}: use one of {choices}")
    if not views:
        return None
    asked = find_view(views, requested)
    if asked is not None:
        return asked
    if chosen_strategy == "priority":
        return views[0]
    remembered = find_view(views, saved)
    if remembered is not None:
        return remembered
    if chosen_strategy == "manual":
        return find_view(views, DEFAULT_VIEW) or views[0]
    return views[0]


def check_strategy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A mistyped strategy would otherwise only surface when someone opens a table."""
    value = getattr(settings, "NOCOFLO_VIEW_SELECTION", DEFAULT_STRATEGY)
    if value in STRATEGIES:
        return []
    return [
        checks.Error(
            f"NOCOFLO_VIEW_SELECTION is {value!r}",
            hint=f"Use one of: {', '.join(STRATEGIES)}.",
            id="nocoflo.E101",
        )
    ]
