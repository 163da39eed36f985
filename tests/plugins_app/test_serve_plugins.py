"""A real server: a plugin file edited in a plugin directory is loaded again without a restart
(`serve --reload-plugins`), and a plugin an admin disables in one server process is disabled in
another that shares the metadata database."""

from __future__ import annotations

import re
import textwrap
import time
from contextlib import ExitStack

import httpx
import pytest

from benchmarks.rows_api import login
from tests.e2e.test_grid_browser import Server as ServerInfo
from tests.e2e.test_grid_browser import _free_port, prepare_demo, server_env, serving

pytestmark = [pytest.mark.plugin, pytest.mark.integration]

PASSWORD = "plugins-admin-pw"
PLUGIN = """
from nocoflo_project.plugins import hookimpl
from views_app.builtin.table import TableView


class EditedViewPlugin:
    version = "{version}"
    plugin_api_version = "1.0"

    @hookimpl
    def get_view_class(self):
        return TableView

    @hookimpl
    def get_view_priority(self):
        return 0
"""


def plugins_of(client: httpx.Client) -> dict[str, dict]:
    response = client.get("/api/plugins")
    assert response.status_code == 200, response.text
    return {p["name"]: p for p in response.json()["plugins"]}


def eventually(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


@pytest.fixture
def two_servers(tmp_path_factory):
    """Two server processes over one data directory; the first reloads plugin files."""
    data_dir = tmp_path_factory.mktemp("plugins-served")
    plugins = data_dir / "plugins"
    plugins.mkdir()
    (plugins / "edited.py").write_text(textwrap.dedent(PLUGIN.format(version="1.0.0")))
    env = server_env(data_dir, PASSWORD, 200)
    env.update(
        NOCOFLO_PLUGIN_DIRS=str(plugins),
        NOCOFLO_ENABLED_PLUGINS="edited_view",
        NOCOFLO_PLUGIN_SYNC_SECONDS="0.5",
    )
    prepare_demo(env, data_dir)
    with ExitStack() as stack:
        servers = []
        for index, args in enumerate((("--reload-plugins",), ())):
            port = _free_port()
            server = ServerInfo(f"http://127.0.0.1:{port}", data_dir, data_dir / f"s{index}.log")
            log = stack.enter_context(open(server.log_path, "w"))
            stack.enter_context(serving(env, port, log, server, *args))
            client = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
            login(client, "admin", PASSWORD)
            servers.append(client)
        yield plugins, servers


def test_plugins_change_without_a_restart(two_servers):
    plugins, (reloading, other) = two_servers
    assert plugins_of(reloading)["edited_view"]["version"] == "1.0.0"

    # An edited plugin file is loaded again by the server that watches the folder.
    (plugins / "edited.py").write_text(textwrap.dedent(PLUGIN.format(version="1.1.0")))
    assert eventually(lambda: plugins_of(reloading)["edited_view"]["version"] == "1.1.0")
    assert plugins_of(reloading)["edited_view"]["enabled"] is True

    # Disabled through the admin of one process: the other follows within its sync interval.
    page = reloading.get("/admin/plugins_app/pluginconfig/")
    assert page.status_code == 200
    pk = re.search(r'pluginconfig/(\d+)/change/[^"]*">edited_view<', page.text).group(1)
    assert plugins_of(other)["edited_view"]["enabled"] is True
    response = reloading.post(
        "/admin/plugins_app/pluginconfig/",
        data={
            "action": "disable_plugins",
            "_selected_action": [pk],
            "csrfmiddlewaretoken": reloading.cookies["csrftoken"],
        },
        headers={"Referer": f"{reloading.base_url}/admin/plugins_app/pluginconfig/"},
    )
    assert response.status_code == 302, response.text[:500]
    assert plugins_of(reloading)["edited_view"]["enabled"] is False
    assert eventually(lambda: plugins_of(other)["edited_view"]["enabled"] is False)
