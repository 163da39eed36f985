"""Errors of the data layer. Each message is fit to show a user: no SQL, no secrets."""

from __future__ import annotations

from typing import Any


class DatasourceError(Exception):
    """Something went wrong reading or writing the user's database."""

    status = 400


class DatasourceUnavailable(DatasourceError):
    """The database cannot be reached."""

    status = 503


class QueryTimeout(DatasourceError):
    """A statement ran past its time limit and was stopped."""

    status = 504


class InvalidValue(DatasourceError):
    """A value does not fit its column; nothing was written."""

    status = 422

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


class InvalidOption(DatasourceError):
    """A datasource's option (its configuration's JSON) holds a value it cannot take."""

    status = 400


class InvalidQuery(DatasourceError):
    """A sort, filter or cursor names something that does not exist or makes no sense."""

    status = 400


class RowNotFound(DatasourceError):
    status = 404


class ReadOnlyTable(DatasourceError):
    status = 403


class WriteConflict(DatasourceError):
    """The row changed since the writer read it; nothing was written."""

    status = 409

    def __init__(self, message: str, current: dict[str, Any]) -> None:
        super().__init__(message)
        self.current = current


class RowLocked(DatasourceError):
    """Someone else holds the row's lock (they are editing it); nothing was written."""

    status = 423

    def __init__(self, message: str, locked_by: str) -> None:
        super().__init__(message)
        self.locked_by = locked_by


class DatasourcePluginFailed(DatasourceError):
    """A datasource plugin raised something other than these errors (its bug, not the user's)."""

    status = 502
