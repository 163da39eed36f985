"""`manage.py serve`: uvicorn on the one dispatcher, plugin configs synced first."""

from __future__ import annotations

from io import StringIO

import pytest
import uvicorn
from django.core.management import call_command
from uvicorn.importer import import_from_string

from nocoflo_project.access_log import uvicorn_log_config
from plugins_app.models import PluginConfig

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def uvicorn_calls(monkeypatch):
    from nocoflo_project.management.commands import serve as serve_command

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    # No server runs here, so no settling loop either: it would outlive the test's database.
    monkeypatch.setattr(serve_command, "settle_pending_changes", lambda *args, **kwargs: None)
    return calls


def serve(*args: str) -> str:
    out = StringIO()
    call_command("serve", *args, stdout=out)
    return out.getvalue()


def test_serve_passes_host_port_and_app(uvicorn_calls, fresh_manager):
    output = serve("--host", "0.0.0.0", "--port", "9001", "--reload", "--log-level", "debug")

    assert output == "Nocoflo on http://0.0.0.0:9001\n"
    assert uvicorn_calls == [
        (
            ("nocoflo_project.asgi:application",),
            {
                "host": "0.0.0.0",
                "port": 9001,
                "reload": True,
                "log_level": "debug",
                # The dispatcher writes the access lines, after each answer (access_log).
                "log_config": uvicorn_log_config("debug"),
                "access_log": False,
                "lifespan": "on",
            },
        )
    ]


def test_serve_defaults(uvicorn_calls, fresh_manager):
    assert serve() == "Nocoflo on http://127.0.0.1:8000\n"
    ((_, kwargs),) = uvicorn_calls
    assert (kwargs["host"], kwargs["port"], kwargs["reload"], kwargs["log_level"]) == (
        "127.0.0.1",
        8000,
        False,
        "info",
    )


def test_serve_syncs_plugin_configs_first(uvicorn_calls, fresh_manager):
    assert not PluginConfig.objects.exists()
    serve()
    assert set(PluginConfig.objects.values_list("plugin_name", flat=True)) == {
        "mysql",
        "postgresql",
        "sqlite_datasource",
        "table_view",
        "chart_view",
        "form_view",
    }


def test_the_app_path_names_the_dispatcher(uvicorn_calls, fresh_manager, asgi_module):
    serve()
    ((args, _),) = uvicorn_calls
    assert import_from_string(args[0]) is asgi_module.application


# Transactional: the admin account is made on a connection of its own, in a thread, while the
# application is built.
@pytest.mark.django_db(transaction=True)
def test_serve_prepare_sets_up_first_in_the_same_process(
    uvicorn_calls, fresh_manager, settings, tmp_path, monkeypatch
):
    """`scripts/run` is `serve --prepare`: demo data and admin, then the server."""
    from django.contrib.auth import get_user_model

    from datasources_app.models import DatasourceConfig

    settings.NOCOFLO_DEMO_DB = tmp_path / "demo.sqlite3"
    settings.NOCOFLO_DEMO_ORDERS = 20
    monkeypatch.setenv("NOCOFLO_ADMIN_PASSWORD", "serve-prepare-1")
    output = serve("--prepare")
    assert DatasourceConfig.objects.filter(name="Demo shop").exists()
    assert get_user_model().objects.get(username="admin").check_password("serve-prepare-1")
    assert output.endswith("Nocoflo on http://127.0.0.1:8000\n")
    assert len(uvicorn_calls) == 1


@pytest.mark.django_db(transaction=True)
def test_serve_prepare_refuses_to_start_when_the_admin_cannot_be_made(
    uvicorn_calls, fresh_manager, settings, tmp_path, monkeypatch
):
    from core.management.commands import ensure_admin

    def broken(self, *args, **options):
        raise RuntimeError("no admin today")

    settings.NOCOFLO_DEMO_DB = tmp_path / "demo.sqlite3"
    settings.NOCOFLO_DEMO_ORDERS = 20
    monkeypatch.setattr(ensure_admin.Command, "handle", broken)
    with pytest.raises(RuntimeError, match="no admin today"):
        serve("--prepare")
    assert uvicorn_calls == []
