"""MariaDB killed (SIGKILL) in the middle of a CSV import, then started again.

The import writes all its rows in one transaction: after the crash the table holds none of them,
and once the pending audit entries are settled the audit says so too (no entry claims a row that
is not there). Nocoflo answers again as soon as the server is back, without a restart.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.models import Change
from datasources_app import importer, rows, sql
from datasources_app.discovery import discover_tables
from datasources_app.errors import DatasourceUnavailable
from tests.factories import DatasourceFactory

from .servers import PrivateMariaDB

pytestmark = pytest.mark.django_db

ORIGINAL = [(1, "bolt", 1), (2, "nut", 2), (3, "gear", 3)]
# Rows are inserted a batch at a time (datasources_app.sql.INSERT_BATCH, smaller here so that
# settling has fewer entries to read): the server dies with part of the import sent and the rest
# still to come.
BATCH = 100
IMPORTED = 3 * BATCH


@pytest.fixture(scope="module")
def mariadb():
    server = PrivateMariaDB()
    try:
        server.start()
        server.execute(
            "CREATE DATABASE shop",
            "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, "
            "qty INT NOT NULL) ENGINE=InnoDB",
            "INSERT INTO shop.items VALUES (1, 'bolt', 1), (2, 'nut', 2), (3, 'gear', 3)",
        )
        yield server
    finally:
        server.remove()


def _csv() -> importer.CsvFile:
    lines = ["id,name,qty", *(f"{i},part {i},{i % 7}" for i in range(100, 100 + IMPORTED))]
    return importer.read_csv("\n".join(lines).encode())


def test_an_import_cut_off_by_a_killed_mariadb_leaves_nothing_and_the_audit_agrees(
    mariadb, admin_user, admin_client, monkeypatch
):
    monkeypatch.setattr(sql, "INSERT_BATCH", BATCH)
    source = DatasourceFactory(
        name="Private MariaDB", datasource_type="mysql", connection_string=mariadb.url("shop")
    )
    discover_tables(source)
    table = source.tables.get(name="items")
    opened = rows.open_table(admin_user, table.pk)
    progress: list[int] = []

    def kill_after_first_batch(done: int, total: int) -> None:
        # Called inside the import's open transaction, after a batch of rows has been sent.
        progress.append(done)
        if len(progress) == 1:
            mariadb.kill()

    with pytest.raises(DatasourceUnavailable):
        importer.import_csv(opened, _csv(), progress=kill_after_first_batch)
    assert progress == [BATCH]

    # While the server is down, the API says so plainly.
    down = admin_client.get(f"/api/tables/{table.pk}/rows")
    assert down.status_code == 503 and "cannot be reached" in down.json()["message"]
    # Nocoflo could not know whether the commit happened: every entry is pending, none done.
    entries = Change.objects.filter(table=table, action="insert")
    assert entries.count() == IMPORTED
    assert set(entries.values_list("state", flat=True)) == {Change.State.PENDING}

    mariadb.start()  # InnoDB's crash recovery rolls the open transaction back

    # None of the import is in the table, and the API answers again by itself.
    assert mariadb.query("SELECT id, name, qty FROM shop.items ORDER BY id") == ORIGINAL
    page = admin_client.get(f"/api/tables/{table.pk}/rows")
    assert page.status_code == 200 and len(page.json()["rows"]) == len(ORIGINAL)

    # Settling (at server start, or `manage.py settle_changes`) reads each row: not there, so
    # the entry is marked failed. Entries are aged past the time a live write could still take.
    entries.update(at=timezone.now() - timedelta(hours=1))
    out = io.StringIO()
    call_command("settle_changes", stdout=out)
    assert f"0 happened, {IMPORTED} did not, 0 left pending" in out.getvalue()
    assert set(entries.values_list("state", flat=True)) == {Change.State.FAILED}
    history = admin_client.get(f"/api/tables/{table.pk}/history").json()
    assert history["count"] == 0

    # The same file imports whole once the server is back: all rows, each with its done entry.
    report = importer.import_csv(rows.open_table(admin_user, table.pk), _csv())
    assert report.inserted == IMPORTED
    (count,) = mariadb.query("SELECT count(*) FROM shop.items")[0]
    assert count == len(ORIGINAL) + IMPORTED
    assert entries.filter(state=Change.State.DONE).count() == IMPORTED
