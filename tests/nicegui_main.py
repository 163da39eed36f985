"""The main file NiceGUI's `user` test fixture runs before each page test."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nocoflo_project.settings")
django.setup()

from django.conf import settings  # noqa: E402
from nicegui import ui  # noqa: E402

from views_app.pages import register_pages  # noqa: E402

register_pages()
ui.run(storage_secret=settings.SECRET_KEY)
