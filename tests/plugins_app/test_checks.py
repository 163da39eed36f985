"""`manage.py check` names every plugin that cannot run, with a check id per problem."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from plugins_app import manager as manager_module
from plugins_app.checks import check_plugins
from plugins_app.models import PluginConfig

from .test_manager import builtin_manager
from .test_plugin_contract import ConfigurablePlugin, view_plugin

pytestmark = [pytest.mark.plugin, pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def installed(plugin_dir):
    """A process manager holding a plugin that cannot be imported, one written for another plugin
    API, one that declares no API version and one with a configuration schema."""
    previous = manager_module._current
    manager = builtin_manager(plugin_dirs=[plugin_dir("broken_import_plugin", "typo_hook_plugin")])
    manager.register_plugin(view_plugin("from_the_future", plugin_api_version="3.0"))
    manager.register_plugin(view_plugin("undeclared"), source="directory plugins/undeclared.py")
    manager.register_plugin(ConfigurablePlugin())
    manager_module.set_manager(manager)
    yield manager
    manager_module.set_manager(previous)


def by_object(messages) -> dict[str, str]:
    return {message.obj: message.id for message in messages}


def test_each_problem_has_its_id(installed):
    PluginConfig.objects.create(plugin_name="configurable_view", config_json={"bins": -1})

    found = by_object(check_plugins(databases=["default"]))

    assert found == {
        "broken_import_plugin": "nocoflo.E001",
        "typo_view": "nocoflo.E002",
        "from_the_future": "nocoflo.E003",
        "configurable_view": "nocoflo.E004",
        "undeclared": "nocoflo.W001",
    }
    messages = {m.obj: m.msg for m in check_plugins(databases=["default"])}
    # Without the database (plain `manage.py check`) saved configurations are not read.
    assert "configurable_view" not in by_object(check_plugins())
    assert "needs a library that is not installed" in messages["broken_import_plugin"]
    assert "get_view_clas" in messages["typo_view"]
    assert "bins: -1 is less than the minimum of 1" in messages["configurable_view"]


def test_manage_py_check_fails_on_an_invalid_plugin(installed):
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
    report = str(failed.value)
    assert "nocoflo.E003" in report and "from_the_future" in report
    assert "it needs Nocoflo plugin API 3.0; this Nocoflo offers 1.0" in report


def test_the_builtins_alone_pass_the_checks(settings):
    previous = manager_module._current
    manager_module.set_manager(builtin_manager())
    try:
        assert check_plugins() == []
        call_command("check", stdout=io.StringIO())
    finally:
        manager_module.set_manager(previous)


def test_starting_nocoflo_reports_a_broken_plugin_but_goes_on(installed):
    from nocoflo_project.management.startup_checks import StartupCommand

    class Start(StartupCommand):
        def handle(self, *args, **options):
            self.stdout.write("started")

    out, err = io.StringIO(), io.StringIO()
    call_command(Start(stdout=out, stderr=err), skip_checks=False)

    assert "started" in out.getvalue()
    assert "nocoflo.E003" in err.getvalue() and "from_the_future" in err.getvalue()


def test_upgrading_with_migrate_reports_a_broken_plugin_but_goes_on(installed):
    out, err = io.StringIO(), io.StringIO()
    call_command("migrate", skip_checks=False, stdout=out, stderr=err, verbosity=1)
    assert "Apply all migrations" in out.getvalue()  # it ran
    assert "nocoflo.E001" in err.getvalue() and "broken_import_plugin" in err.getvalue()


def test_a_builtin_that_cannot_load_is_a_warning(settings):
    previous = manager_module._current
    manager = builtin_manager(builtins=("views_app.builtin.table", "no_such.builtin"))
    manager_module.set_manager(manager)
    try:
        assert by_object(check_plugins()) == {"no_such.builtin": "nocoflo.W002"}
    finally:
        manager_module.set_manager(previous)
