import pytest

from core.models import TableMeta
from tests.factories import DatasourceFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Accounts are created in most tests here; a cheap hasher keeps the folder fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tables(db):
    """Two visible tables, a hidden one and a table of a disabled datasource."""
    live = DatasourceFactory(name="Live")
    off = DatasourceFactory(name="Off", enabled=False)
    return {
        "orders": TableMeta.objects.create(datasource=live, name="orders"),
        "customers": TableMeta.objects.create(datasource=live, name="customers"),
        "secret": TableMeta.objects.create(datasource=live, name="secret", visible=False),
        "archived": TableMeta.objects.create(datasource=off, name="archived"),
    }
