"""The datasource contract every datasource plugin implements.

The first six methods are the architecture document's operations; the rest are what a grid over
millions of rows needs: a query object (page or keyset cursor, sort, filters, search), counts,
compare-and-set updates, and the aggregates charts draw. SQL databases get all of it from
`sql.SQLAlchemyDatasource`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import DatasourceError

FILTER_OPS = (
    "eq", "ne", "lt", "lte", "gt", "gte", "contains", "startswith", "isnull", "notnull", "in",
)  # fmt: skip


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: Any = None


@dataclass
class Query:
    """Which rows of a table to read: a window, an order, filters and a search text."""

    limit: int = 100
    offset: int = 0
    cursor: str | None = None
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    filters: list[Filter] = field(default_factory=list)
    search: str = ""
    columns: list[str] | None = None  # None: all columns
    with_count: bool = True
    # Count every matching row even when that means scanning a huge table (the user asked).
    exact_count: bool = False


# How far a page's count can be trusted. Counting a huge table scans it, so unless asked for an
# exact count a datasource may answer with its statistics' estimate, or with "at least" a capped
# count, and says which.
EXACT = "exact"
ESTIMATE = "estimate"
AT_LEAST = "at_least"
COUNT_ACCURACIES = (EXACT, ESTIMATE, AT_LEAST)


@dataclass
class Page:
    columns: list[str]
    rows: list[tuple[dict[str, Any], dict[str, Any]]]  # (key values, row values)
    count: int | None
    next: str | None
    count_accuracy: str = EXACT


class BaseDatasource(ABC):
    """A kind of database Nocoflo can read and edit."""

    #: Shown in the admin; schemes come from the plugin's get_supported_schemes hook.
    label = "Datasource"

    def __init__(self, connection_string: str, config: dict | None = None) -> None:
        self.connection_string = connection_string
        self.config = dict(config or {})

    # --- the architecture document's operations -----------------------------------------------

    @abstractmethod
    def get_table_data(self, table_config: dict, limit: int = 100) -> tuple[list[str], list[tuple]]:
        """Column names and the first `limit` rows as tuples."""

    @abstractmethod
    def update_cell(
        self, table_config: dict, pk_col: str, pk_value: Any, column: str, new_value: Any
    ) -> bool:
        """Write one cell of the row whose `pk_col` is `pk_value`; True when a row changed."""

    @abstractmethod
    def insert_row(self, table_config: dict, data: dict) -> dict:
        """Insert a row; answers the new row's key columns and values (truthy)."""

    @abstractmethod
    def delete_row(self, table_config: dict, pk_col: str, pk_value: Any) -> bool:
        """Delete the row whose `pk_col` is `pk_value`; True when a row was deleted."""

    @abstractmethod
    def get_schema(self, table_config: dict) -> list[dict]:
        """The table's columns: name, kind, db_type, nullable, primary_key, default,
        max_length, references."""

    @abstractmethod
    def test_connection(self, connection_config: dict | None = None) -> bool:
        """True when the database answers; raises DatasourceUnavailable saying why otherwise."""

    # --- what the grid needs ----------------------------------------------------------------------

    @abstractmethod
    def list_tables(self) -> list[dict]:
        """Tables and views: name, schema, is_view."""

    @abstractmethod
    def get_page(self, table_config: dict, query: Query) -> Page:
        """One page of rows for a query."""

    @abstractmethod
    def count(self, table_config: dict, query: Query) -> int | None:
        """How many rows match the query's filters and search."""

    def cursor_after(self, key_values: list) -> str:
        """A page cursor that starts right after the row with these key values, for a query
        ordered by the key columns alone (a form stepping to the next record)."""
        from .errors import InvalidQuery

        raise InvalidQuery("This datasource cannot page from a given row")

    @abstractmethod
    def get_row(self, table_config: dict, key: dict) -> dict | None:
        """The row with these key values, or None."""

    @abstractmethod
    def update_row(
        self, table_config: dict, key: dict, values: dict, expected: dict | None = None
    ) -> dict:
        """Compare-and-set: write `values` only where the row still holds `expected`.

        Answers the row as stored; raises WriteConflict with the current row when it changed, and
        RowNotFound when it is gone."""

    @abstractmethod
    def delete_by_key(self, table_config: dict, key: dict, expected: dict | None = None) -> bool:
        """Delete the row with these key values; with `expected`, only while it still holds
        those values (compare-and-set). True when a row was deleted."""

    def insert_rows(
        self,
        table_config: dict,
        rows: list[dict],
        progress: Callable[[int, int], None] | None = None,
    ) -> list[dict]:
        """Insert many rows in one transaction, all of them or none; answers each row's key
        columns, in order. `progress(done, total)` is called as batches are written."""
        raise DatasourceError(f"{self.label} datasources cannot import rows")

    def aggregate(self, table_config: dict, spec: Any) -> dict:
        """Chart data: `spec` (an aggregate.AggregateSpec) grouped and aggregated by the database,
        as `{"x": [...], "series": [{"name": ..., "y": [...]}]}` with each `y` aligned to `x`.

        A datasource that cannot group in its database says so rather than loading rows."""
        raise DatasourceError("This datasource cannot aggregate")

    def key_columns_for(self, table_config: dict) -> list[str]:
        """The columns that identify a row (empty: the table is read-only)."""
        return [c["name"] for c in self.get_schema(table_config) if c["primary_key"]]

    def forget(self, table_config: dict | None = None) -> None:
        """Drop anything cached about a table's schema (all tables when None)."""

    def close(self) -> None:
        """Release connections."""
