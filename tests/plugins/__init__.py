"""Sample plugins for the plugin-system tests, written like the architecture document's examples.

Each module is also a valid plugin-directory entry (this `__init__.py` is skipped by the loader).
"""
