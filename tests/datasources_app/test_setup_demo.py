"""`manage.py setup_demo` and the demo database it builds."""

from __future__ import annotations

import io
import runpy
import sys

import pytest
from django.core.management import call_command

import datasources_app.demo_data
from core.models import TableMeta
from datasources_app.demo_data import build_demo_database, main
from datasources_app.management.commands.setup_demo import DEMO_NAME
from datasources_app.models import DatasourceConfig

from .sqlite_files import query


def setup_demo(*args) -> str:
    out = io.StringIO()
    call_command("setup_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo_path(settings, tmp_path):
    settings.NOCOFLO_DEMO_DB = tmp_path / "data" / "demo.sqlite3"
    return settings.NOCOFLO_DEMO_DB


@pytest.mark.integration
def test_setup_demo_builds_registers_and_discovers(db, demo_path):
    output = setup_demo("--orders", "100")
    assert demo_path.exists()
    assert f"Building the demo database at {demo_path}" in output
    assert "10000 customers, 1000 products, 100 orders" in output
    assert f"Datasource '{DEMO_NAME}': tables: 3 added, 0 removed, 0 changed" in output
    config = DatasourceConfig.objects.get(name=DEMO_NAME)
    assert config.datasource_type == "sqlite"
    assert config.connection_string == f"sqlite:///{demo_path}"
    assert sorted(config.tables.values_list("name", flat=True)) == [
        "customers",
        "orders",
        "products",
    ]
    assert query(demo_path, "SELECT count(*) FROM orders") == [(100,)]


@pytest.mark.integration
def test_a_second_run_reuses_everything(db, demo_path):
    setup_demo("--orders", "100")
    mtime = demo_path.stat().st_mtime_ns
    tables = sorted(TableMeta.objects.values_list("pk", flat=True))
    output = setup_demo("--orders", "50")
    assert output == ""
    assert demo_path.stat().st_mtime_ns == mtime
    assert query(demo_path, "SELECT count(*) FROM orders") == [(100,)]
    assert DatasourceConfig.objects.count() == 1
    assert sorted(TableMeta.objects.values_list("pk", flat=True)) == tables


@pytest.mark.integration
def test_a_registered_demo_without_tables_is_discovered_again(db, demo_path):
    setup_demo("--orders", "100")
    TableMeta.objects.all().delete()
    output = setup_demo("--orders", "100")
    assert "Building" not in output
    assert "tables: 3 added" in output
    assert TableMeta.objects.count() == 3


@pytest.mark.integration
def test_rebuild_builds_the_file_again(db, demo_path):
    setup_demo("--orders", "100")
    output = setup_demo("--orders", "30", "--rebuild")
    assert "30 orders" in output
    assert "tables: 0 added, 0 removed, 0 changed" in output
    assert query(demo_path, "SELECT count(*) FROM orders") == [(30,)]
    assert DatasourceConfig.objects.count() == 1


# --- the demo data ----------------------------------------------------------------------------


@pytest.mark.unit
def test_demo_data_is_reproducible_and_plausible(tmp_path):
    first, second = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    counts = build_demo_database(first, orders=300)
    assert counts == {"customers": 10_000, "products": 1_000, "orders": 300}
    build_demo_database(second, orders=300)
    dump = "SELECT * FROM orders ORDER BY id"
    assert query(first, dump) == query(second, dump)
    assert query(first, "SELECT * FROM customers WHERE id < 50") == query(
        second, "SELECT * FROM customers WHERE id < 50"
    )
    other = tmp_path / "c.sqlite3"
    build_demo_database(other, orders=300, seed=8)
    assert query(first, dump) != query(other, dump)

    assert query(first, "PRAGMA journal_mode") == [("wal",)]
    assert query(first, "PRAGMA foreign_key_check") == []
    # Nothing is ordered before the customer signed up or the product was added.
    assert query(
        first,
        "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
        "JOIN products p ON p.id = o.product_id "
        "WHERE date(o.ordered_at) < c.signup_date OR date(o.ordered_at) < date(p.added_at)",
    ) == [(0,)]
    assert query(
        first,
        "SELECT count(*) FROM orders WHERE shipped_on IS NOT NULL "
        "AND status IN ('pending', 'paid', 'cancelled')",
    ) == [(0,)]
    assert query(
        first, "SELECT min(ordered_at) >= '2022-01-01', max(ordered_at) < '2025-01-01' FROM orders"
    ) == [(1, 1)]
    assert query(first, "SELECT count(*) FROM sqlite_master WHERE type = 'index'")[0][0] >= 3


@pytest.mark.unit
def test_rebuilding_replaces_the_file_and_its_wal(tmp_path):
    path = tmp_path / "demo.sqlite3"
    build_demo_database(path, orders=10)
    wal = tmp_path / "demo.sqlite3-wal"
    wal.write_bytes(b"left over from an old database")
    assert build_demo_database(path, orders=0)["orders"] == 0
    assert not wal.exists()
    assert query(path, "SELECT count(*) FROM orders") == [(0,)]
    assert [p.name for p in tmp_path.iterdir()] == ["demo.sqlite3"]


@pytest.mark.unit
def test_negative_orders_are_refused(tmp_path):
    with pytest.raises(ValueError, match="must not be negative"):
        build_demo_database(tmp_path / "x.sqlite3", orders=-1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_a_failed_build_leaves_no_temporary_file(tmp_path, monkeypatch):
    import datasources_app.demo_data as demo_data

    monkeypatch.setattr(demo_data, "INDEXES", "CREATE INDEX broken ON no_such_table(x)")
    with pytest.raises(Exception, match="no_such_table"):
        build_demo_database(tmp_path / "x.sqlite3", orders=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_the_demo_builder_runs_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "cli.sqlite3"
    main([str(path), "--orders", "20", "--seed", "3"])
    out = capsys.readouterr().out
    assert "orders             20" in out
    assert f"wrote {path}" in out
    assert query(path, "SELECT count(*) FROM orders") == [(20,)]


@pytest.mark.unit
def test_the_demo_builder_runs_as_a_script(tmp_path, monkeypatch, capsys):
    path = tmp_path / "script.sqlite3"
    monkeypatch.setattr(sys, "argv", ["demo_data.py", str(path), "--orders", "5"])
    runpy.run_path(datasources_app.demo_data.__file__, run_name="__main__")
    assert f"wrote {path}" in capsys.readouterr().out
    assert query(path, "SELECT count(*) FROM orders") == [(5,)]
