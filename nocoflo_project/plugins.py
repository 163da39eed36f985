"""The stable import path for plugin authors: `from nocoflo_project.plugins import hookimpl`."""

from plugins_app.hookspecs import hookimpl

__all__ = ["hookimpl"]
