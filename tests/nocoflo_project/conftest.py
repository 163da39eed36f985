import importlib
import sys

import pytest

from plugins_app import manager as manager_module
from plugins_app.manager import PluginManager


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Sign-in tests create accounts; a cheap hasher keeps the folder fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def asgi_module():
    """nocoflo_project.asgi, imported once (importing it builds the application)."""
    if "nocoflo_project.asgi" not in sys.modules:
        from nicegui import core

        # A NiceGUI page test run earlier in this process may have started NiceGUI's app, which
        # then refuses the middleware `ui.run_with` adds; the page harness resets it anyway.
        core.app.middleware_stack = None
    return importlib.import_module("nocoflo_project.asgi")


@pytest.fixture
def fresh_manager():
    """A fresh plugin manager installed as the process's manager, the old one put back after."""
    previous = manager_module._current
    manager = PluginManager(entry_points=False)
    manager.load_plugins()
    manager_module.set_manager(manager)
    yield manager
    manager_module.set_manager(previous)
