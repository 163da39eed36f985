"""The one way pages ask "are you sure?" before a step that cannot be undone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui


def confirm(
    title: str,
    text: str,
    action: str,
    on_confirm: Callable[[], Awaitable[None]],
    *,
    icon: str | None = None,
    cancel: str = "Cancel",
    classes: str = "",
) -> ui.button:
    """Open a dialog with `title`, `text`, a `cancel` button and a red `action` button that
    closes it and runs `on_confirm`; answers the action button (to mark it). The dialog is gone
    from the page once closed."""
    with ui.dialog() as dialog, ui.card().classes(classes):
        ui.label(title).classes("text-h6")
        ui.label(text)
        with ui.row().classes("justify-end w-full"):
            ui.button(cancel, on_click=dialog.close).props("flat")

            async def confirmed() -> None:
                dialog.close()
                await on_confirm()

            button = ui.button(action, icon=icon, on_click=confirmed).props("color=negative")
    dialog.on("hide", dialog.delete)
    dialog.open()
    return button
