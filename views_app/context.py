"""What a view needs on a page: the open table, and a way to run row operations as the user.

Every event handler goes through `run`, which asks who the user is again (from the Django
session) and checks access through the row operations, so the websocket never skips a check.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from nicegui import ui

from core import locks, presence
from core.auth import user_for_session
from datasources_app import rows
from datasources_app.errors import DatasourceError
from plugins_app.manager import PluginError

log = logging.getLogger("nocoflo.pages")


def _new_client_id() -> str:
    return uuid.uuid4().hex


@dataclass
class ViewContext:
    session_key: str | None
    opened: rows.OpenTable
    # This page among all open pages: it holds the page's row locks and presence, and lets the
    # page recognise its own writes when they come back as events.
    client_id: str = field(default_factory=_new_client_id)
    # The page's query parameters (`?view=form&row=<key>` opens the form on a row).
    params: dict[str, str] = field(default_factory=dict)
    # The user's saved settings of the view the page shows (read before it renders, which cannot
    # wait on the database), e.g. the grid's columns, sort and filters.
    view_config: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self):
        return self.opened.table

    async def run(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a row operation (`operation(opened_table, *args, **kwargs)`) as the current user."""
        user = await user_for_session(self.session_key)

        def call() -> Any:
            return operation(rows.open_table(user, self.table.pk), *args, **kwargs)

        return await sync_to_async(call)()

    async def attempt(
        self, operation: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> tuple[bool, Any]:
        """`run`, telling the user what went wrong instead of raising: (ok, result or error)."""
        try:
            return True, await self.run(operation, *args, **kwargs)
        except (DatasourceError, PluginError) as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return False, exc
        except Exception as exc:  # never a traceback in front of a user
            log.exception("page operation failed")
            ui.notify("Something went wrong on the server; it has been logged", type="negative")
            return False, exc

    async def release_locks(self) -> None:
        """Give up the page's row locks (its view went away while the page stays open)."""
        try:
            await sync_to_async(locks.release_holder)(self.client_id)
        except Exception:
            log.exception("releasing the page's locks failed")

    async def leave(self) -> None:
        """The page closed or lost its connection: free its row locks and leave the viewers."""
        try:
            await sync_to_async(_leave)(self.client_id)
        except Exception:  # the page is gone: log, there is nobody to tell
            log.exception("releasing the page's locks failed")


def _leave(client_id: str) -> None:
    locks.release_holder(client_id)
    presence.gone(client_id)
