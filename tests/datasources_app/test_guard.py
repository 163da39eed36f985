"""Datasource plugins as Nocoflo calls them: counted, timed, and a third-party one isolated."""

from __future__ import annotations

import threading
import time

import pytest

from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.errors import DatasourcePluginFailed, QueryTimeout, RowNotFound
from datasources_app.guard import GuardedDatasource
from plugins_app.manager import PluginManager

pytestmark = pytest.mark.unit


class Flaky:
    """A third-party datasource object with a bug, a slow call and a proper refusal."""

    label = "Flaky"

    def __init__(self) -> None:
        self.release = threading.Event()

    def list_tables(self):
        return [{"name": "things", "schema": None, "is_view": False}]

    def get_row(self, table_config, key):
        raise KeyError("internal detail")

    def count(self, table_config, query):
        self.release.wait(5)
        return 1

    def get_schema(self, table_config):
        raise RowNotFound("No such row")


@pytest.fixture
def manager():
    manager = PluginManager(builtins=(), entry_points=False)

    class FlakyPlugin:
        name = "flaky_datasource"

        from plugins_app.hookspecs import hookimpl

        @hookimpl
        def get_datasource_class(self):
            return Flaky

    manager.register_plugin(FlakyPlugin())
    return manager


def test_calls_pass_through_and_are_counted(manager):
    guarded = GuardedDatasource(Flaky(), "flaky_datasource", manager, time_limit=2)
    calls_before = manager.plugins["flaky_datasource"].calls

    assert guarded.list_tables()[0]["name"] == "things"
    assert guarded.label == "Flaky"
    assert isinstance(guarded, Flaky)

    assert manager.plugins["flaky_datasource"].calls == calls_before + 1


def test_a_plugin_bug_reaches_the_user_as_a_plain_message(manager, caplog):
    guarded = GuardedDatasource(Flaky(), "flaky_datasource", manager, time_limit=2)
    with pytest.raises(DatasourcePluginFailed) as failed:
        guarded.get_row({}, {"id": 1})
    assert "internal detail" not in str(failed.value)
    assert str(failed.value).startswith("The datasource plugin 'flaky_datasource' failed")
    info = manager.plugins["flaky_datasource"]
    assert info.health == "failing" and "KeyError" in info.error
    assert "plugin flaky_datasource failed" in caplog.text


def test_nocoflos_own_errors_pass_unchanged(manager):
    guarded = GuardedDatasource(Flaky(), "flaky_datasource", manager, time_limit=2)
    with pytest.raises(RowNotFound):
        guarded.get_schema({})
    assert manager.plugins["flaky_datasource"].health == "ok"


def test_a_call_past_the_time_limit_is_given_up(manager):
    flaky = Flaky()
    guarded = GuardedDatasource(flaky, "flaky_datasource", manager, time_limit=0.2)
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as slow:
        guarded.count({}, None)
    flaky.release.set()
    assert time.monotonic() - started < 2
    assert str(slow.value) == (
        "The datasource plugin 'flaky_datasource' did not answer within 0.2 seconds"
    )
    assert manager.plugins["flaky_datasource"].health == "failing"


def test_builtins_run_in_the_callers_thread_and_keep_their_errors(manager, tmp_path):
    path = tmp_path / "x.sqlite3"
    import sqlite3

    sqlite3.connect(path).close()
    inner = SQLiteDatasource(f"sqlite:///{path}", {"statement_timeout": 5})
    guarded = GuardedDatasource(inner, "flaky_datasource", manager, time_limit=None)
    assert guarded.list_tables() == []
    assert isinstance(guarded, SQLiteDatasource)
    with pytest.raises(TypeError):  # a bug of Nocoflo's own is not dressed up as a plugin's
        guarded.get_row()
    assert manager.plugins["flaky_datasource"].health == "ok"
