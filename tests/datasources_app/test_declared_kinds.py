"""SQLite columns declared UUID or JSON keep those kinds despite SQLite's NUMERIC affinity."""

import json
import sqlite3
import uuid

import pytest

from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.errors import InvalidValue


@pytest.fixture
def typed_file(tmp_path):
    path = tmp_path / "typed.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, ref UUID, doc JSON)")
        conn.execute("INSERT INTO things (ref, doc) VALUES (NULL, NULL)")
    return path


@pytest.mark.unit
def test_uuid_and_json_columns_are_typed_by_their_declared_names(typed_file):
    source = SQLiteDatasource(f"sqlite:///{typed_file}")
    kinds = {c["name"]: c["kind"] for c in source.get_schema({"name": "things"})}
    assert kinds == {"id": "integer", "ref": "uuid", "doc": "json"}


@pytest.mark.unit
def test_uuid_and_json_values_are_written_as_text(typed_file):
    source = SQLiteDatasource(f"sqlite:///{typed_file}")
    ref = uuid.uuid4()
    source.update_row({"name": "things"}, {"id": 1}, {"ref": str(ref), "doc": {"a": [1, 2]}})
    with sqlite3.connect(typed_file) as conn:
        stored_ref, stored_doc = conn.execute("SELECT ref, doc FROM things").fetchone()
    assert stored_ref == str(ref)
    assert json.loads(stored_doc) == {"a": [1, 2]}
    with pytest.raises(InvalidValue, match="UUID"):
        source.update_row({"name": "things"}, {"id": 1}, {"ref": "not-a-uuid"})
    source.close()
