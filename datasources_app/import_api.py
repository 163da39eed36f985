"""`POST /api/tables/{table_id}/import`: add the rows of a CSV file to a table, all or none."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from ninja import File, Form, Router, Schema
from ninja.errors import HttpError
from ninja.files import UploadedFile

from core.errors_api import WRITE_ERRORS

from . import importer, rows

router = Router(tags=["tables"])


def _mapping(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    try:
        mapping = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to read
        mapping = None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str | None) for k, v in mapping.items()
    ):
        raise HttpError(400, 'mapping must be a JSON object: {"file column": "table column"}')
    return {k: v or "" for k, v in mapping.items()}


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class ImportErrorOut(Schema):
    line: int
    column: str | None
    message: str


class ImportOut(Schema):
    dry_run: bool
    rows: int
    valid: int
    invalid: int
    inserted: int
    errors: list[ImportErrorOut]
    more_errors: int


# 400: not a CSV file; 413: too large; 422: rows that do not fit (with the report) or a
# mapping that cannot work.
@router.post("/tables/{table_id}/import", response={200: ImportOut, **WRITE_ERRORS})
def import_rows(
    request: HttpRequest,
    table_id: int,
    file: File[UploadedFile],
    mapping: Form[str | None] = None,
    dry_run: Form[str | None] = None,
    encoding: Form[str | None] = None,
):
    """Rows of an uploaded CSV file (`file`; header line required) added to the table, in one
    transaction. `mapping`: JSON `{"file column": "table column"}` (default: matched by name);
    `dry_run=true`: only the validation report; `encoding`: `utf-8` (default) or `latin-1`.
    Answers `{rows, valid, invalid, inserted, errors: [{line, column, message}], more_errors}`;
    422 with the same report, nothing written, when any row does not fit."""
    opened = rows.open_table(request.user, table_id)
    rows._require(opened, "write", "import rows")
    if file.size is not None and file.size > importer.max_bytes():
        raise importer.FileTooLarge(
            f"The file is larger than {importer.max_bytes() // (1024 * 1024)} MB, the most an "
            "import takes; split it into smaller files"
        )
    parsed = importer.read_csv(file.read(), encoding)
    chosen = _mapping(mapping)
    dry = _flag(dry_run) or _flag(request.GET.get("dry_run"))
    try:
        if dry:
            report = importer.check(opened, parsed, chosen)
        else:
            report = importer.import_csv(opened, parsed, chosen)
    except importer.ImportRefused as exc:
        return JsonResponse(
            {"message": str(exc), "dry_run": dry, **exc.report.as_dict()}, status=422
        )
    body = {"dry_run": dry, **report.as_dict()}
    if dry and report.invalid:
        body["message"] = f"{report.invalid} of {report.rows} rows cannot be imported"
        return JsonResponse(body, status=422)
    return body
