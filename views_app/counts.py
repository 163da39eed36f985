"""Row counts as pages show them. A count past the exact-count limit is the database's estimate
or a lower bound (see `datasources_app.base.EXACT`); the words say which, never more."""

from __future__ import annotations

from typing import Any


def approximate(count: int, accuracy: Any = "exact") -> str:
    """1,234 · about 10.2 million · about 52,300 · more than 10,000."""
    if accuracy == "at_least":
        return f"more than {count:,}"
    if accuracy == "estimate":
        # Halves round up, in whole numbers: the grid's JavaScript (grid_js.ROWS_TEXT) says the
        # same before the server does.
        if count >= 1_000_000:
            tenths = (count + 50_000) // 100_000
            decimal = f".{tenths % 10}" if tenths % 10 else ""
            return f"about {tenths // 10:,}{decimal} million"
        step = 10 ** max(len(str(count)) - 3, 0)  # three significant digits
        return f"about {(count + step // 2) // step * step:,}"
    return f"{count:,}"


def rows_text(count: Any, accuracy: Any = "exact") -> str:
    """The count line above a grid; empty while there is no count."""
    if count is None:
        return ""
    count = int(count)
    return approximate(count, accuracy) + (
        " row" if count == 1 and accuracy == "exact" else " rows"
    )
