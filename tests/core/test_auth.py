"""core.auth: one Django sign-in serves the NiceGUI pages too."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from core.auth import session_key_of, user_for_session
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(transactional_db):
    """A user and the key of a real session created by signing them in."""
    user = UserFactory(username="alice")
    client = Client()
    client.force_login(user)
    return user, client, client.cookies["sessionid"].value


async def test_a_real_session_gives_its_user(signed_in):
    user, _, key = signed_in
    found = await user_for_session(key)
    assert found.is_authenticated
    assert found.pk == user.pk
    assert found.username == "alice"


@pytest.mark.parametrize("key", [None, "", "garbage-not-a-session-key", "x" * 40])
async def test_no_or_unknown_session_is_anonymous(signed_in, key):
    found = await user_for_session(key)
    assert isinstance(found, AnonymousUser)
    assert not found.is_authenticated


async def test_a_deactivated_user_is_anonymous_at_once(signed_in):
    from asgiref.sync import sync_to_async

    user, _, key = signed_in
    user.is_active = False
    await sync_to_async(user.save)()
    assert isinstance(await user_for_session(key), AnonymousUser)


async def test_signing_out_ends_the_page_session(signed_in):
    from asgiref.sync import sync_to_async

    _, client, key = signed_in
    await sync_to_async(client.logout)()
    assert isinstance(await user_for_session(key), AnonymousUser)


def test_session_key_is_read_from_the_django_cookie():
    request = SimpleNamespace(cookies={settings.SESSION_COOKIE_NAME: "abc123", "other": "x"})
    assert session_key_of(request) == "abc123"
    assert session_key_of(SimpleNamespace(cookies={"other": "x"})) is None


async def test_the_page_thread_connection_is_retired_between_events(signed_in, monkeypatch):
    """Page events reuse one worker thread: a connection the server dropped (a restart, MySQL's
    wait_timeout) must be replaced at the next event, as Django does at each request."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    user, _, key = signed_in
    await user_for_session(key)  # the worker thread now has a connection
    closed = []

    def server_hangs_up():
        connection = connections["default"]
        connection.errors_occurred = True
        monkeypatch.setattr(connection, "is_usable", lambda: False)
        real_close = connection.close
        monkeypatch.setattr(connection, "close", lambda: closed.append(real_close()))

    await sync_to_async(server_hangs_up)()
    found = await user_for_session(key)
    assert closed
    assert found.pk == user.pk
