"""`manage.py startplugin`: the files it writes and the names it refuses; the generated plugins
working inside Nocoflo (the datasource through the row operations, the view on a page); and,
end to end, each generated package installed with pip, passing its own tests and found by a
freshly built plugin manager through its entry point."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
import sysconfig
import tomllib
import uuid
from io import StringIO
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from nicegui.testing import User

from datasources_app import rows
from datasources_app.base import Query
from datasources_app.discovery import discover_tables
from datasources_app.errors import WriteConflict
from plugins_app import manager as manager_module
from plugins_app.hookspecs import PLUGIN_API_VERSION
from plugins_app.management.commands import startplugin
from plugins_app.management.commands.startplugin import (
    TEMPLATE_DIR,
    plugin_files,
    plugin_variables,
    render,
    write_plugin,
)
from plugins_app.testing import (
    check_datasource,
    load_plugin,
    plugin_manager,
    sample_sqlite_database,
)
from tests.factories import DatasourceFactory
from tests.views_app.conftest import page_db, settle, sign_in

pytestmark = pytest.mark.plugin

REPO = Path(__file__).resolve().parents[2]
KINDS = ("view", "datasource")


def generate(name: str, kind: str, directory: Path) -> tuple[Path, str]:
    out = StringIO()
    call_command("startplugin", name, "--type", kind, "--directory", str(directory), stdout=out)
    return directory / plugin_variables(name, kind)["distribution"], out.getvalue()


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def generated(tmp_path, monkeypatch):
    """Generate a plugin and import its plugin module from the folder (no pip needed)."""
    packages = []

    def make(name: str, kind: str):
        folder, _ = generate(name, kind, tmp_path / "generated")
        package = plugin_variables(name, kind)["package"]
        packages.append(package)
        monkeypatch.syspath_prepend(str(folder))
        return importlib.import_module(f"{package}.plugin")

    yield make
    for module in [m for m in sys.modules if m.split(".")[0] in packages]:
        del sys.modules[module]


@pytest.fixture
def use_manager():
    """Make a manager with the essential built-ins and the given plugins the process's one."""
    previous = manager_module._current

    def install(*plugins):
        manager = plugin_manager(*plugins)
        manager_module.set_manager(manager)
        return manager

    yield install
    manager_module._current = previous


# --- the files ------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("kind", KINDS)
def test_writes_an_installable_package(tmp_path, kind):
    folder, output = generate("heatmap", kind, tmp_path)

    assert folder == tmp_path / "nocoflo-heatmap"
    assert files_in(folder) == {
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "nocoflo_heatmap/__init__.py",
        "nocoflo_heatmap/plugin.py",
        "tests/conftest.py",
        "tests/test_plugin.py",
    }
    for path in folder.rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text(), f"{path} keeps a placeholder"
    assert f"Created the {kind} plugin 'heatmap_{kind}' in {folder}" in output
    assert "pip install -e ." in output

    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    assert project["project"]["name"] == "nocoflo-heatmap"
    assert project["project"]["dependencies"] == ["nocoflo"]
    assert project["project"]["entry-points"] == {
        "nocoflo": {f"heatmap_{kind}": "nocoflo_heatmap.plugin"}
    }
    assert project["tool"]["setuptools"]["packages"] == ["nocoflo_heatmap"]
    assert project["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]

    readme = (folder / "README.md").read_text()
    for needed in ("pip install -e .", f"NOCOFLO_ENABLED_PLUGINS=heatmap_{kind}", "pytest"):
        assert needed in readme

    code = (folder / "nocoflo_heatmap" / "plugin.py").read_text()
    compile(code, "plugin.py", "exec")
    assert "from nocoflo_project.plugins import hookimpl" in code
    assert f'name = "heatmap_{kind}"' in code
    # A literal: the plugin declares the API it was written for, this Nocoflo's.
    assert f'plugin_api_version = "{PLUGIN_API_VERSION}"' in code
    for hook in ("get_config_schema", "configure"):
        assert f"    @hookimpl\n    def {hook}(self" in code
    assert (
        "from plugins_app.testing import setup_django" in (folder / "tests/conftest.py").read_text()
    )


@pytest.mark.unit
def test_names_of_a_plugin_of_several_words(tmp_path):
    assert plugin_variables("sales_map", "datasource") == {
        "name": "sales_map",
        "kind": "datasource",
        "title": "Sales map",
        "class_name": "SalesMap",
        "package": "nocoflo_sales_map",
        "distribution": "nocoflo-sales-map",
        "plugin_name": "sales_map_datasource",
        "scheme": "sales_map",
        "description": "Sales map: a Nocoflo datasource plugin for sales_map:// URLs",
    }
    folder, _ = generate("sales_map", "datasource", tmp_path)
    assert (folder / "nocoflo_sales_map" / "plugin.py").exists()
    assert "class SalesMapDatasourcePlugin:" in (folder / "nocoflo_sales_map/plugin.py").read_text()


@pytest.mark.unit
def test_the_folder_goes_into_the_current_directory_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call_command("startplugin", "orbit", "--type", "datasource", stdout=StringIO())
    assert (tmp_path / "nocoflo-orbit" / "nocoflo_orbit" / "plugin.py").exists()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "kind", "complaint"),
    [
        ("Heatmap", "view", "not a valid plugin name"),
        ("1map", "view", "not a valid plugin name"),
        ("heat-map", "view", "not a valid plugin name"),
        ("heat map", "view", "not a valid plugin name"),
        ("", "view", "not a valid plugin name"),
        ("heat__map", "view", "double or trailing"),
        ("heatmap_", "view", "double or trailing"),
        ("class", "view", "Python keyword"),
        ("x" * 41, "view", "too long"),
        ("table", "view", "built-in plugin"),
        ("sqlite", "datasource", "built-in plugin"),
        ("postgres", "datasource", "built-in plugin"),
        ("mariadb", "datasource", "built-in plugin"),
    ],
)
def test_refuses_bad_names(tmp_path, name, kind, complaint):
    with pytest.raises(CommandError, match=complaint):
        generate(name, kind, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_refuses_an_unknown_or_missing_type(tmp_path):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("startplugin", "heatmap", "--type", "widget", "--directory", str(tmp_path))
    with pytest.raises(CommandError, match="--type"):
        call_command("startplugin", "heatmap", "--directory", str(tmp_path))
    with pytest.raises(CommandError, match="--type must be one of"):
        write_plugin("heatmap", "widget", tmp_path)


@pytest.mark.unit
def test_refuses_to_overwrite_a_folder(tmp_path):
    folder = tmp_path / "nocoflo-heatmap"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep me")
    with pytest.raises(CommandError, match="exists already"):
        generate("heatmap", "datasource", tmp_path)
    assert files_in(folder) == {"mine.txt"}
    assert (folder / "mine.txt").read_text() == "keep me"


@pytest.mark.unit
def test_a_failed_write_leaves_no_half_package(tmp_path, monkeypatch):
    written = []
    original = Path.write_text

    def write_text(self, *args, **kwargs):
        if len(written) == 3:
            raise OSError("disk full")
        written.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(OSError, match="disk full"):
        write_plugin("heatmap", "view", tmp_path)
    assert not (tmp_path / "nocoflo-heatmap").exists()


@pytest.mark.unit
def test_templates_use_only_known_placeholders(monkeypatch, tmp_path):
    for kind in KINDS:
        assert plugin_files("heatmap", kind)  # renders every template
    with pytest.raises(CommandError, match="unknown placeholder"):
        render("{{ nonsense }}", plugin_variables("heatmap", "view"))
    monkeypatch.setattr(startplugin, "TEMPLATE_DIR", tmp_path)
    with pytest.raises(CommandError, match="no plugin templates"):
        plugin_files("heatmap", "view")


@pytest.mark.unit
def test_the_templates_are_package_data():
    """A wheel of Nocoflo must ship the templates (they are no Python modules)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"].get("package-data", {})
    patterns = package_data.get("plugins_app", []) + package_data.get("*", [])
    base = REPO / "plugins_app"
    shipped = {p for pattern in patterns for p in base.glob(pattern) if p.is_file()}
    templates = {p for p in TEMPLATE_DIR.rglob("*") if p.is_file()}
    assert templates
    missing = sorted(str(p.relative_to(base)) for p in templates - shipped)
    assert not missing, (
        'pyproject.toml needs [tool.setuptools.package-data] "plugins_app" = '
        f'["plugin_template/**/*"] to ship {missing}'
    )


# --- the generated plugins inside Nocoflo ---------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("kind", KINDS)
def test_the_generated_plugin_loads(generated, kind):
    module = generated("heatmap", kind)
    info = load_plugin(module)
    assert (info.name, info.kinds, info.api_version) == (f"heatmap_{kind}", [kind], "1.0")


@pytest.mark.integration
def test_the_generated_datasource_keeps_the_contract(generated, tmp_path):
    module = generated("orbit", "datasource")
    path = sample_sqlite_database(tmp_path / "orbit.sqlite3", rows=30)
    report = check_datasource(module.OrbitDatasource, f"orbit:///{path}", "items")
    assert (report["count"], report["writable"]) == (30, True)


@pytest.mark.integration
@pytest.mark.django_db
def test_the_generated_datasource_serves_nocoflos_row_operations(
    generated, use_manager, tmp_path, admin_user
):
    use_manager(generated("orbit", "datasource"))
    path = sample_sqlite_database(tmp_path / "orbit.sqlite3", rows=25)
    config = DatasourceFactory(
        name="Orbit", datasource_type="orbit", connection_string=f"orbit:///{path}"
    )
    discover_tables(config)
    table = config.tables.get(name="items")
    assert table.key_columns == ["id"]

    opened = rows.open_table(admin_user, table.pk)
    page = rows.read_page(opened, Query(limit=10, sort=[("id", False)]))
    assert (page["count"], len(page["rows"])) == (25, 10)
    first = page["rows"][0]
    assert first["values"]["name"] == "item 1"

    stored = rows.update_row(opened, first["key"], {"name": "renamed"})
    assert stored["name"] == "renamed"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM items WHERE id = 1").fetchone() == ("renamed",)
    with pytest.raises(WriteConflict):
        rows.update_row(opened, first["key"], {"name": "again"}, {"name": "item 1"})


@pytest.mark.integration
@page_db
async def test_the_generated_view_shows_its_cards_on_a_table_page(
    user: User, generated, use_manager, tmp_path, admin_user
):
    module = generated("summary", "view")
    use_manager(module)
    path = sample_sqlite_database(tmp_path / "summary.sqlite3", rows=25)
    config = await sync_to_async(DatasourceFactory)(
        name="Sample", connection_string=f"sqlite:///{path}"
    )
    await sync_to_async(discover_tables)(config)
    table = await sync_to_async(config.tables.get)(name="items")

    await sign_in(user, admin_user)
    await user.open(f"/tables/{table.pk}?view=summary_view")
    await settle(0.3)
    await user.should_see("25 rows")
    await user.should_see("Columns summarised from the first 25 rows")
    await user.should_see("from 1 to 25")  # the id card
    await user.should_see("from 2024-01-02 to 2024-01-26")  # the created card
    await user.should_see("20 of 25 filled, 7 distinct")  # quantity: every fifth empty
    await user.should_see("most often green (9 times)")  # category


# --- end to end: pip install -e, the package's own tests, the entry point -------------------------

MANAGER_SCRIPT = """
import json, sys
import django

django.setup()
from plugins_app.manager import build_manager

info = build_manager().plugins.get(sys.argv[1])
print(json.dumps(info and {"enabled": info.enabled, "health": info.health, "kinds": info.kinds,
                           "source": info.source, "error": info.error}))
"""

ENTRY_POINTS_SCRIPT = """
import importlib.metadata, json
print(json.dumps(sorted(ep.name for ep in importlib.metadata.entry_points(group="nocoflo"))))
"""


def editable_installs_work_offline() -> bool:
    """pip install -e without build isolation needs setuptools' bdist_wheel (70.1+) or wheel."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    major_minor = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    return major_minor >= (70, 1) or importlib.util.find_spec("wheel") is not None


def overlay_environment(root: Path) -> Path:
    """A virtual environment that sees this one's packages (Nocoflo, pytest, setuptools) and
    installs into its own folder: the temporary plugin never appears in this environment, which
    other test runs may be using meanwhile. Answers its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    own = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    lines = "".join(f"import site; site.addsitedir({path!r})\n" for path in ours)
    (Path(own) / "_nocoflo_parent_environment.pth").write_text(lines)
    return python


def subprocess_env(data_dir: Path) -> dict[str, str]:
    """This process's environment without Nocoflo's, Django's, pytest's and coverage's settings,
    and with a data directory of the test's own."""
    dropped = ("NOCOFLO_", "DJANGO_", "PYTEST_", "COV_CORE_", "COVERAGE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["NOCOFLO_DATA_DIR"] = str(data_dir)
    return env


@pytest.mark.integration
@pytest.mark.parametrize("kind", KINDS)
def test_a_generated_package_installs_passes_its_tests_and_is_found(tmp_path, kind):
    if not editable_installs_work_offline():
        pytest.fail(
            "pip install -e --no-build-isolation needs setuptools>=70.1 (or wheel) in this "
            'environment: add "setuptools>=70.1" to the dev extra of pyproject.toml'
        )
    name = f"e2e_{kind}_{uuid.uuid4().hex[:6]}"  # unique: test runs may overlap
    names = plugin_variables(name, kind)
    folder, _ = generate(name, kind, tmp_path / "src")
    python = str(overlay_environment(tmp_path / "venv"))
    env = subprocess_env(tmp_path / "data")

    def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    pip = (python, "-m", "pip", "--disable-pip-version-check")
    installed = run(*pip, "install", "-q", "--no-index", "--no-build-isolation", "--no-deps",
                    "-e", str(folder))  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    try:
        tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=folder)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        summary = tests.stdout.strip().splitlines()[-1]
        assert re.match(r"\d+ passed", summary) and "skipped" not in summary, summary

        env["DJANGO_SETTINGS_MODULE"] = "nocoflo_project.settings"
        found = run(python, "-c", MANAGER_SCRIPT, names["plugin_name"])
        assert found.returncode == 0, found.stderr
        info = json.loads(found.stdout.strip().splitlines()[-1])
        assert info is not None, f"build_manager() did not find {names['plugin_name']}"
        assert (info["enabled"], info["health"], info["kinds"]) == (False, "ok", [kind]), info
        assert names["distribution"] in info["source"]
        assert f"{names['package']}.plugin" in info["source"]

        # Installed into the overlay only: this environment never saw it.
        here = {ep.name for ep in importlib.metadata.entry_points(group="nocoflo")}
        assert names["plugin_name"] not in here
    finally:
        removed = run(*pip, "uninstall", "-y", "-q", names["distribution"])
    assert removed.returncode == 0, removed.stdout + removed.stderr
    left = run(python, "-c", ENTRY_POINTS_SCRIPT)
    assert names["plugin_name"] not in json.loads(left.stdout)
