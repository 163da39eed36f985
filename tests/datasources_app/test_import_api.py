"""`POST /api/tables/{id}/import`: a CSV upload added to a table, all or nothing."""

from __future__ import annotations

import json
import sqlite3

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import Change, TableMeta
from tests.conftest import grant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def authors(shop_source):
    return TableMeta.objects.get(datasource=shop_source, name="authors")


def upload(client, table, text: str | bytes, **fields):
    data = text.encode() if isinstance(text, str) else text
    body = {"file": SimpleUploadedFile("people.csv", data, content_type="text/csv"), **fields}
    return client.post(f"/api/tables/{table.pk}/import", body)


def names(shop_file) -> list[str]:
    with sqlite3.connect(shop_file) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM authors ORDER BY id")]


def test_import_adds_the_rows(admin_client, authors, shop_file):
    before = names(shop_file)
    response = upload(admin_client, authors, "Name;Rating\nAnn;1.5\nBob;2\n")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["rows"], body["valid"], body["inserted"], body["errors"]) == (2, 2, 2, [])
    assert names(shop_file) == [*before, "Ann", "Bob"]
    assert Change.objects.filter(table=authors, state="done").count() == 2


def test_dry_run_only_reports(admin_client, authors, shop_file):
    before = names(shop_file)
    response = upload(admin_client, authors, "name\nAnn\n", dry_run="true")
    assert response.status_code == 200
    assert response.json()["inserted"] == 0 and response.json()["dry_run"] is True
    bad = upload(admin_client, authors, "name,born\nAnn,never\n", dry_run="true")
    assert bad.status_code == 422
    assert bad.json()["errors"][0] == {
        "line": 2, "column": "born", "message": "born needs a date like 2024-12-31, not 'never'"
    }  # fmt: skip
    assert names(shop_file) == before and not Change.objects.exists()


def test_an_explicit_mapping(admin_client, authors, shop_file):
    mapping = json.dumps({"who": "name", "score": "rating", "ignored": ""})
    response = upload(admin_client, authors, "who,score,ignored\nZed,3,x\n", mapping=mapping)
    assert response.status_code == 200, response.content
    assert names(shop_file)[-1] == "Zed"
    bad = upload(admin_client, authors, "who\nZed\n", mapping="[1]")
    assert bad.status_code == 400 and "mapping" in bad.json()["message"]
    wrong = upload(admin_client, authors, "who\nZed\n", mapping=json.dumps({"who": "nope"}))
    assert wrong.status_code == 422 and "nope" in wrong.json()["message"]


def test_invalid_rows_are_422_with_the_report_and_nothing_written(admin_client, authors, shop_file):
    before = names(shop_file)
    response = upload(admin_client, authors, "id,name\n50,Ann\n50,Bob\n,\n")
    assert response.status_code == 422
    body = response.json()
    assert body["rows"] == 3 and body["valid"] == 1 and body["inserted"] == 0
    assert "nothing was written" in body["message"]
    assert [(e["line"], e["column"]) for e in body["errors"]] == [(3, "id"), (4, "name")]
    assert names(shop_file) == before and not Change.objects.exists()


def test_bad_files_are_400_with_a_clear_message(admin_client, authors, settings):
    assert upload(admin_client, authors, b"").json()["message"] == "The file is empty"
    latin = upload(admin_client, authors, "name\nZoë\n".encode("latin-1"))
    assert latin.status_code == 400 and "not UTF-8" in latin.json()["message"]
    chosen = upload(admin_client, authors, "name\nZoë\n".encode("latin-1"), encoding="latin-1")
    assert chosen.status_code == 200
    settings.NOCOFLO_IMPORT_MAX_MB = 0
    assert upload(admin_client, authors, "name\nAnn\n").status_code == 413


def test_access(client, authors):
    nobody = UserFactory(username="nobody")
    client.force_login(nobody)
    assert upload(client, authors, "name\nAnn\n").status_code == 404
    reader = UserFactory(username="reader")
    grant(reader, "read_rows")
    client.force_login(reader)
    refused = upload(client, authors, "name\nAnn\n", dry_run="true")
    assert refused.status_code == 403 and "import" in refused.json()["message"]
    TableMeta.objects.filter(pk=authors.pk).update(read_only_reason="Archived")
    writer = UserFactory(username="writer")
    grant(writer, "read_rows", "write_rows")
    client.force_login(writer)
    assert upload(client, authors, "name\nAnn\n").status_code == 403
