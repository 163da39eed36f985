"""The API's error answers, declared once so that every operation documents the errors it gives.

Every error is JSON with a `message` a person can read (nocoflo_project.api's handlers); the
OpenAPI schema lists them so clients, and the schema fuzzing in CI, know which codes to expect.
"""

from __future__ import annotations

from typing import Any

from ninja import Schema


class ErrorOut(Schema):
    message: str


class ConflictOut(ErrorOut):
    # The row as it is now, when it changed since it was read: nothing was written. (A change
    # that cannot be reverted any more is a conflict without a row.)
    current: dict[str, Any] | None = None


class FailureOut(ErrorOut):
    # The answers of operations that say `success` (datasources, view choice) carry it as
    # false; a request refused before the operation ran (a body that is not JSON) does not.
    success: bool = False


class LockedOut(ErrorOut):
    # Who is editing the row.
    locked_by: str


# Any operation: a body that is not JSON (400); not signed in or a token that does not work
# (401); no right to do it, a read token writing or a session write without its CSRF token
# (403); a body too large (413); parameters or a body that do not fit the schema (422).
ANY_ERRORS: dict[int, Any] = {
    400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 422: ErrorOut,
}  # fmt: skip
# An operation that reads a table of a datasource: also a parameter that makes no sense for the
# table (400), no such table, row or thing (404), and the datasource failing: its plugin (502),
# unreachable (503), too slow (504).
TABLE_ERRORS: dict[int, Any] = {
    **ANY_ERRORS, 404: ErrorOut, 502: ErrorOut, 503: ErrorOut, 504: ErrorOut,
}  # fmt: skip
# An operation that writes rows: also changed since read (409, with the row as it is now), and
# being edited by someone else (423, with who).
WRITE_ERRORS: dict[int, Any] = {**TABLE_ERRORS, 409: ConflictOut, 423: LockedOut}
