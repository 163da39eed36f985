"""core.metadata_cache: what requests remember of the metadata never outlives a change to it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core import auth, metadata_cache
from core.models import ColumnMeta, TableGrant
from tests.factories import UserFactory

pytestmark = pytest.mark.integration


def rows_url(table) -> str:
    return f"/api/tables/{table.pk}/rows"


@pytest.fixture
def granted(orders_table):
    """A user who may read the orders table through a grant, signed in to a client."""
    user = UserFactory(username="granted")
    grant = TableGrant.objects.create(table=orders_table, user=user, can_read=True)
    client = Client()
    client.force_login(user)
    assert client.get(rows_url(orders_table)).status_code == 200
    assert client.get(rows_url(orders_table)).status_code == 200  # now from memory
    return user, grant, client


def test_a_repeated_request_reads_no_session_user_table_or_grant(granted, orders_table):
    _, _, client = granted
    with CaptureQueriesContext(connection) as queries:
        assert client.get(rows_url(orders_table)).status_code == 200
    read = " ".join(q["sql"] for q in queries.captured_queries)
    for table in ("django_session", "auth_user", "core_tablemeta", "core_columnmeta"):
        assert table not in read
    assert "core_tablegrant" not in read
    assert read.count("core_metadatarevision") == 1  # once per request, for all it remembers


def test_a_deleted_grant_is_refused_at_the_next_request(granted, orders_table):
    _, grant, client = granted
    grant.delete()
    assert client.get(rows_url(orders_table)).status_code == 404


def test_a_grant_taken_away_by_a_bulk_update_is_refused_at_once(granted, orders_table):
    user, _, client = granted
    TableGrant.objects.filter(user=user).update(can_read=False)
    assert client.get(rows_url(orders_table)).status_code == 404


def test_a_column_hidden_is_gone_from_the_next_page(granted, orders_table):
    _, _, client = granted
    assert "comment" in client.get(rows_url(orders_table)).json()["columns"]
    column = ColumnMeta.objects.get(table=orders_table, name="comment")
    column.visible = False
    column.save()
    assert "comment" not in client.get(rows_url(orders_table)).json()["columns"]


def test_a_deactivated_user_is_signed_out_at_once(granted, orders_table):
    user, _, client = granted
    user.is_active = False
    user.save()
    assert client.get(rows_url(orders_table)).status_code == 401


def test_a_deleted_session_is_signed_out_at_once(granted, orders_table):
    _, _, client = granted
    Session.objects.all().delete()  # what signing out, elsewhere, does to this session
    assert client.get(rows_url(orders_table)).status_code == 401


def test_a_change_made_by_another_process_is_seen_at_the_next_request(granted, orders_table):
    _, grant, client = granted
    # Another process writes the change and a new revision; this one learns of it only by
    # reading the revision.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_tablegrant SET can_read = %s WHERE id = %s", [False, grant.pk])
        cursor.execute("UPDATE core_metadatarevision SET token = %s WHERE id = 1", ["other"])
    assert client.get(rows_url(orders_table)).status_code == 404


def test_a_change_written_around_the_orm_is_seen_after_max_age(granted, orders_table, monkeypatch):
    _, grant, client = granted
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_tablegrant SET can_read = %s WHERE id = %s", [False, grant.pk])
    later = metadata_cache.time.monotonic() + metadata_cache.MAX_AGE_SECONDS + 1
    monkeypatch.setattr(metadata_cache.time, "monotonic", lambda: later)
    assert client.get(rows_url(orders_table)).status_code == 404


def test_what_was_read_while_the_metadata_changed_is_not_kept(db):
    calls = []

    def load():
        calls.append(1)
        metadata_cache.changed()  # as if another request changed the metadata meanwhile
        return "read during a change"

    assert metadata_cache.remember("key", load) == "read during a change"
    metadata_cache.remember("key", load)
    assert len(calls) == 2


def test_a_load_that_fails_is_tried_again(db):
    calls = []

    def load():
        calls.append(1)
        if len(calls) == 1:
            raise LookupError("not there yet")
        return "there"

    with pytest.raises(LookupError):
        metadata_cache.remember("key", load)
    assert metadata_cache.remember("key", load) == "there"
    assert metadata_cache.remember("key", load) == "there"
    assert len(calls) == 2


def test_each_request_has_a_user_object_of_its_own(granted):
    _, _, client = granted
    store = client.session
    first = auth.session_user(store)
    first.marked = True
    second = auth.session_user(store)
    assert second.pk == first.pk
    assert not hasattr(second, "marked")


def test_an_expired_session_is_not_taken_from_memory(granted, monkeypatch):
    _, _, client = granted
    store = client.session
    assert auth.session_user(store).is_authenticated
    expired = Session.objects.get(session_key=store.session_key).expire_date
    monkeypatch.setattr(auth.timezone, "now", lambda: expired)
    store = client.session  # a new request's store: the database says the session expired
    assert isinstance(auth.session_user(store), AnonymousUser)


def test_without_a_revision_nothing_is_remembered(db):
    from core.models import MetadataRevision

    MetadataRevision.objects.all().delete()  # as after a flush
    calls = []
    for _ in range(2):
        metadata_cache.remember("key", lambda: calls.append(1))
    assert len(calls) == 2
    metadata_cache.changed()
    assert metadata_cache.revision() is not None


def test_a_request_that_changes_the_metadata_reads_the_new_revision(db, rf):
    seen = []

    def view(request):
        metadata_cache.remember("key", lambda: "before")
        metadata_cache.changed()
        seen.append(metadata_cache.remember("key", lambda: "after"))
        return None

    metadata_cache.per_request(view)(rf.get("/"))
    assert seen == ["after"]
