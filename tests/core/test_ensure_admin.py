"""`manage.py ensure_admin`: an admin account exists, its login shown once."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.factories import AdminFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

User = get_user_model()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("NOCOFLO_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("NOCOFLO_ADMIN_USERNAME", raising=False)


def ensure_admin() -> str:
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def test_first_run_creates_admin_and_prints_a_generated_password():
    output = ensure_admin()

    match = re.fullmatch(r"Admin account: admin / (\S+)\n", output)
    assert match, output
    password = match.group(1)
    assert len(password) >= 12
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(password)


def test_second_run_prints_nothing_and_keeps_the_password():
    first = ensure_admin()
    password = first.strip().rsplit(" ", 1)[-1]

    assert ensure_admin() == ""
    assert User.objects.filter(username="admin").count() == 1
    assert User.objects.get(username="admin").check_password(password)


def test_password_from_the_environment_is_not_printed(monkeypatch):
    monkeypatch.setenv("NOCOFLO_ADMIN_PASSWORD", "s3cret-from-env")
    output = ensure_admin()
    assert output == "Admin account: admin / (from NOCOFLO_ADMIN_PASSWORD)\n"
    assert "s3cret-from-env" not in output
    assert User.objects.get(username="admin").check_password("s3cret-from-env")
    assert ensure_admin() == ""


def test_environment_password_updates_an_existing_admin(monkeypatch):
    ensure_admin()
    monkeypatch.setenv("NOCOFLO_ADMIN_PASSWORD", "a-new-password")

    assert ensure_admin() == "Admin password of admin set from NOCOFLO_ADMIN_PASSWORD\n"
    assert User.objects.get(username="admin").check_password("a-new-password")
    assert ensure_admin() == ""  # already that password: nothing to do


def test_username_from_the_environment(monkeypatch):
    monkeypatch.setenv("NOCOFLO_ADMIN_USERNAME", "root")
    assert ensure_admin().startswith("Admin account: root / ")
    assert User.objects.get(username="root").is_superuser
    assert not User.objects.filter(username="admin").exists()


def test_an_admin_under_another_name_is_enough_without_a_password():
    AdminFactory(username="boss")
    assert ensure_admin() == ""
    assert not User.objects.filter(username="admin").exists()


def test_a_password_creates_the_named_admin_even_if_another_exists(monkeypatch):
    AdminFactory(username="boss")
    monkeypatch.setenv("NOCOFLO_ADMIN_PASSWORD", "for-admin-too")
    assert "Admin account: admin" in ensure_admin()
    assert User.objects.get(username="admin").check_password("for-admin-too")
