"""core.locks: row leases in the metadata database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from core import locks
from core.models import RowLock
from tests.factories import UserFactory

pytestmark = pytest.mark.integration


def test_acquire_takes_a_lease_and_announces_it(ann, orders, heard):
    lock = locks.acquire(orders, "1", ann, "page-a")
    assert (lock.user, lock.holder, lock.row_key) == (ann, "page-a", "1")
    assert lock.expires_at > timezone.now() + timedelta(seconds=50)
    assert locks.current(orders, "1") == lock
    assert locks.locked_rows(orders) == {"1": "ann"}
    assert heard == [
        {"type": "lock", "key": "1", "user": "ann", "holder": "page-a", "table": orders.pk}
    ]


def test_a_second_user_is_refused_with_the_holders_name(ann, bob, orders):
    locks.acquire(orders, "1", ann, "page-a")
    with pytest.raises(locks.RowLocked, match="ann is editing this row") as info:
        locks.acquire(orders, "1", bob, "page-b")
    assert info.value.username == "ann"
    with pytest.raises(locks.RowLocked):
        locks.ensure_free(orders, "1", bob)
    locks.ensure_free(orders, "1", ann)
    locks.ensure_free(orders, "2", bob)  # other rows are free
    assert RowLock.objects.get().holder == "page-a"


def test_the_same_user_takes_over_from_another_page(ann, orders):
    first = locks.acquire(orders, "1", ann, "page-a")
    RowLock.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    second = locks.acquire(orders, "1", ann, "page-b")
    assert second.pk == first.pk
    stored = RowLock.objects.get()
    assert stored.holder == "page-b"
    assert stored.expires_at > timezone.now() + timedelta(seconds=50)


def test_an_expired_lease_is_free(ann, bob, orders):
    locks.acquire(orders, "1", ann, "page-a")
    RowLock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert locks.current(orders, "1") is None
    assert locks.locked_rows(orders) == {}
    locks.ensure_free(orders, "1", bob)
    taken = locks.acquire(orders, "1", bob, "page-b")
    assert RowLock.objects.get() == taken
    assert taken.user == bob


def test_the_lease_length_is_a_setting(ann, bob, orders, settings):
    settings.NOCOFLO_LOCK_SECONDS = 0
    locks.acquire(orders, "1", ann, "page-a")
    assert locks.current(orders, "1") is None
    assert locks.acquire(orders, "1", bob, "page-b").user == bob


def test_renew_extends_every_live_lease_of_a_holder(ann, orders):
    locks.acquire(orders, "1", ann, "page-a")
    locks.acquire(orders, "2", ann, "page-a")
    locks.acquire(orders, "3", ann, "page-other")
    soon = timezone.now() + timedelta(seconds=2)
    RowLock.objects.update(expires_at=soon)
    assert locks.renew("page-a") == 2
    renewed = dict(RowLock.objects.values_list("row_key", "expires_at"))
    assert renewed["1"] > soon + timedelta(seconds=30)
    assert renewed["3"] == soon
    RowLock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert locks.renew("page-a") == 0  # a lapsed lease is not brought back


def test_release_only_frees_the_holders_lock(ann, orders, heard):
    locks.acquire(orders, "1", ann, "page-a")
    assert locks.release(orders, "1", "page-b") is False
    assert locks.current(orders, "1") is not None
    assert locks.release(orders, "1", "page-a") is True
    assert locks.current(orders, "1") is None
    assert locks.release(orders, "1", "page-a") is False
    assert heard[-1] == {"type": "unlock", "key": "1", "holder": "page-a", "table": orders.pk}
    assert [e["type"] for e in heard] == ["lock", "unlock"]


def test_release_holder_frees_every_lock_of_a_closed_page(ann, orders, tables, heard):
    locks.acquire(orders, "1", ann, "page-a")
    locks.acquire(orders, "2", ann, "page-a")
    locks.acquire(tables["customers"], "9", ann, "page-a")
    locks.acquire(orders, "3", ann, "page-b")
    assert locks.release_holder("page-a") == 3
    assert locks.locked_rows(orders) == {"3": "ann"}
    unlocks = [e for e in heard if e["type"] == "unlock"]
    assert sorted(e["key"] for e in unlocks) == ["1", "2"]  # only the orders table's
    assert all(e["holder"] == "page-a" and e["table"] == orders.pk for e in unlocks)


def test_break_lock_removes_anyones_lock(ann, bob, orders, heard):
    locks.acquire(orders, "1", ann, "page-a")
    assert locks.break_lock(orders, "1", by=bob) is True
    assert locks.current(orders, "1") is None
    assert heard[-1] == {
        "type": "unlock", "key": "1", "user": "bob", "broken": True, "table": orders.pk
    }  # fmt: skip
    assert locks.break_lock(orders, "1", by=bob) is False


def test_live_locks_lists_what_holds(ann, bob, orders):
    locks.acquire(orders, "1", ann, "page-a")
    locks.acquire(orders, "2", bob, "page-b")
    RowLock.objects.filter(row_key="2").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert [(lock.row_key, lock.user.username) for lock in locks.live_locks(orders)] == [
        ("1", "ann")
    ]


@pytest.mark.django_db(transaction=True)
def test_two_users_racing_for_a_row_end_with_one_holder(tables):
    orders = tables["orders"]
    users = [UserFactory(username=f"racer{i}") for i in range(4)]
    start = threading.Barrier(len(users))
    outcome: dict[str, str] = {}

    def race(user) -> None:
        try:
            start.wait()
            locks.acquire(orders, "1", user, f"page-{user.username}")
            outcome[user.username] = "holds"
        except locks.RowLocked as exc:
            outcome[user.username] = f"refused: {exc.username}"
        except Exception as exc:  # reported below, with the others' outcome
            outcome[user.username] = f"error: {exc!r}"
        finally:
            connection.close()

    for _ in range(5):
        RowLock.objects.all().delete()
        outcome.clear()
        threads = [threading.Thread(target=race, args=(u,)) for u in users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        winners = [name for name, result in outcome.items() if result == "holds"]
        assert len(winners) == 1, outcome
        assert sorted(outcome.values()).count(f"refused: {winners[0]}") == len(users) - 1, outcome
        assert RowLock.objects.get().user.username == winners[0]


class _ServerError(Exception):
    """What a database driver raises; Django wraps it as the OperationalError's cause."""


def _fail_first_insert(monkeypatch, code: int) -> list[int]:
    calls: list[int] = []
    create = RowLock.objects.create

    def create_once_failing(**fields):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("lock failed") from _ServerError(code, "from the server")
        return create(**fields)

    monkeypatch.setattr(RowLock.objects, "create", create_once_failing)
    return calls


@pytest.mark.django_db(transaction=True)  # as in a page: each statement commits on its own
def test_a_deadlock_victim_tries_again_and_gets_the_lock(ann, orders, monkeypatch):
    # InnoDB breaks a deadlock between editors racing for a row by rolling one back (1213).
    calls = _fail_first_insert(monkeypatch, 1213)
    lock = locks.acquire(orders, "1", ann, "page-a")
    assert len(calls) == 2
    assert locks.current(orders, "1") == lock


def test_other_database_errors_reach_the_caller(ann, orders, monkeypatch):
    _fail_first_insert(monkeypatch, 2006)  # server gone away: no retry hides it
    with pytest.raises(OperationalError):
        locks.acquire(orders, "1", ann, "page-a")
    assert locks.current(orders, "1") is None
