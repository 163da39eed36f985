import pytest

from core import events
from core.models import TableMeta
from tests.factories import DatasourceFactory, UserFactory


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


@pytest.fixture
def ann(db):
    return UserFactory(username="ann")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def orders(tables):
    return tables["orders"]


@pytest.fixture
def heard(orders):
    """The events published on the orders table (in-process bus, delivered synchronously)."""
    previous = events.set_bus(events.EventBus())
    got: list[dict] = []
    events.subscribe(orders.pk, got.append)
    yield got
    events.set_bus(previous)
