"""Counts as pages show them: exact ones in full, estimates and lower bounds saying so."""

from __future__ import annotations

import pytest

from views_app.builtin.form import position_text
from views_app.counts import rows_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("count", "accuracy", "shown"),
    [
        (None, None, ""),
        (0, "exact", "0 rows"),
        (1, "exact", "1 row"),
        (1_000_000, "exact", "1,000,000 rows"),
        (10_234_567, "estimate", "about 10.2 million rows"),
        (1_000_000, "estimate", "about 1 million rows"),
        (52_345, "estimate", "about 52,300 rows"),
        (10_000, "at_least", "more than 10,000 rows"),
        # Halves round up (the grid's JavaScript says the same, tests/views_app/test_grid_js.py).
        (52_350, "estimate", "about 52,400 rows"),
        (52_250, "estimate", "about 52,300 rows"),
        (1_250_000, "estimate", "about 1.3 million rows"),
        (1_049_999, "estimate", "about 1 million rows"),
        (12, "estimate", "about 12 rows"),
    ],
)
def test_rows_text(count, accuracy, shown):
    assert rows_text(count, accuracy) == shown


def test_form_position_in_a_huge_table():
    """Deep in a huge table the form names the record's key and the estimated total, not a
    guessed position."""
    near = {"key": "WzVd", "position": 5, "total": 10_200_000, "total_accuracy": "estimate"}
    assert position_text(near, 1) == "Record 5 of about 10.2 million · key 5"
    deep = {"key": "WzVd", "position": None, "total": 10_200_000, "total_accuracy": "estimate"}
    assert position_text(deep, 1) == "Key 5 · one of about 10.2 million records"
    small = {"key": "WzVd", "position": 5, "total": 2_000}
    assert position_text(small, 1) == "Record 5 of 2,000 · key 5"
