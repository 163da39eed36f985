"""`manage.py prepare`: what scripts/run does before serving, in one process."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from datasources_app.models import DatasourceConfig

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_prepare_sets_up_demo_and_admin_once(settings, tmp_path, monkeypatch):
    settings.NOCOFLO_DEMO_DB = tmp_path / "demo.sqlite3"
    settings.NOCOFLO_DEMO_ORDERS = 50
    monkeypatch.setenv("NOCOFLO_ADMIN_PASSWORD", "prepare-pass-1")

    first = StringIO()
    call_command("prepare", stdout=first)

    demo = DatasourceConfig.objects.get(name="Demo shop")
    assert sorted(demo.tables.values_list("name", flat=True)) == ["customers", "orders", "products"]
    assert get_user_model().objects.get(username="admin").check_password("prepare-pass-1")
    assert "3 added" in first.getvalue()

    again = StringIO()
    call_command("prepare", stdout=again)
    assert again.getvalue() == ""  # everything reused, nothing rebuilt
    assert DatasourceConfig.objects.count() == 1
