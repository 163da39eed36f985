"""The kanban board: a table's rows as cards, in one lane per value of a status column.

Lanes and their counts come from the datasource's aggregate (a count grouped by the status
column, computed by the database); each lane reads at most `max_cards_per_lane` rows through the
governed row operations. Dropping a card on another lane is a compare-and-set write of the status
through `rows.update_row`: access, row locks, the audit log and live events all apply.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from nicegui import background_tasks, ui

from core import events
from datasources_app import rows
from datasources_app.aggregate import MAX_TOP, AggregateSpec, aggregate_rows
from datasources_app.base import Filter, Query
from datasources_app.errors import DatasourceError, RowLocked, RowNotFound, WriteConflict
from datasources_app.values import key_label
from plugins_app.manager import PluginError
from views_app.base import BaseView

log = logging.getLogger("nocoflo.plugins.kanban")

DEFAULT_STATUS_COLUMNS = ("status", "state", "stage")
DEFAULT_MAX_CARDS = 25
# Kinds a status column may have: its values are the lanes.
STATUS_KINDS = ("text", "enum")
# A status column with more distinct values than this is no workflow: the further values are
# counted together and their rows are not shown.
MAX_LANES = MAX_TOP
EMPTY_LANE = "(empty)"
BLANK_LANE = "(blank)"
TITLE_LENGTH = 120
# Others' changes arriving together reload the board once.
RELOAD_DELAY_SECONDS = 0.3
ROW_EVENTS = ("row_updated", "row_inserted", "row_deleted", "rows_imported")

CSS = """
.nocoflo-kanban .kanban-lane { min-width: 240px; max-width: 320px; flex: 0 0 260px;
  background: rgba(0, 0, 0, 0.04); border-radius: 8px; padding: 8px; min-height: 120px; }
.nocoflo-kanban .kanban-lane-over { outline: 2px dashed var(--q-primary); outline-offset: -2px; }
.nocoflo-kanban .kanban-card[draggable="true"] { cursor: grab; }
"""
# The browser side of dragging: Firefox starts a drag only when it carries data; a lane accepts
# a drop only when dragover's default is prevented (the `.prevent` modifier), and the drop's own
# default (opening the dragged text) is prevented too. Nothing but the drop reaches the server.
DRAGSTART_JS = (
    "(e) => { e.dataTransfer.effectAllowed = 'move'; "
    "e.dataTransfer.setData('text/plain', 'nocoflo-kanban-card'); emit(); }"
)
DRAGOVER_JS = (
    "(e) => { if (e.dataTransfer) e.dataTransfer.dropEffect = 'move'; "
    "e.currentTarget.classList.add('kanban-lane-over'); }"
)
DRAGLEAVE_JS = (
    "(e) => { if (!e.currentTarget.contains(e.relatedTarget)) "
    "e.currentTarget.classList.remove('kanban-lane-over'); }"
)
DROP_JS = (
    "(e) => { e.preventDefault(); e.currentTarget.classList.remove('kanban-lane-over'); emit(); }"
)


@dataclass
class KanbanSettings:
    """The plugin's configuration, as the board uses it (see plugin.CONFIG_SCHEMA)."""

    status_columns: list[str] = field(default_factory=lambda: list(DEFAULT_STATUS_COLUMNS))
    max_cards_per_lane: int = DEFAULT_MAX_CARDS


def status_column(columns: list[dict], names: list[str]) -> str | None:
    """The first text (or enum) column whose name is one of `names` (any case), or None."""
    wanted = {str(n).casefold() for n in names}
    for column in columns:
        name = column.get("name")
        if isinstance(name, str) and column.get("type") in STATUS_KINDS:
            if name.casefold() in wanted:
                return name
    return None


def title_column(columns: list[dict], status: str | None) -> str | None:
    """The first text column other than the status: the cards' titles."""
    for column in columns:
        if column.get("type") == "text" and column.get("name") != status:
            return column["name"]
    return None


def lane_label(value: Any) -> str:
    if value is None:
        return EMPTY_LANE
    if value == "":
        return BLANK_LANE
    return str(value)


# --- reading the board (row operations for ViewContext.run, run in Django's thread) -----------


@dataclass
class Card:
    key: str | None
    title: str


@dataclass
class Lane:
    value: Any
    count: int
    cards: list[Card] = field(default_factory=list)

    @property
    def more(self) -> int:
        """Rows of this lane that are not shown as cards."""
        return max(self.count - len(self.cards), 0)


@dataclass
class BoardData:
    lanes: list[Lane]
    total: int
    # Rows whose status is none of the lanes shown (beyond MAX_LANES values).
    hidden: int = 0


def ordered_lanes(values: list[Any], choices: list[str]) -> list[Any]:
    """Lanes in a stable order: an enum's declared choices first, then the other values
    alphabetically, the empty lane last. (Ordered by count, lanes would jump after each move.)"""
    unique = list(dict.fromkeys(values))
    declared = [c for c in choices if c in unique]
    rest = sorted(
        (v for v in unique if v is not None and v not in declared),
        key=lambda v: (str(v).casefold(), str(v)),
    )
    return declared + rest + ([None] if None in unique else [])


def read_board(
    opened: rows.OpenTable,
    status: str,
    title: str | None,
    limit: int,
    known: tuple = (),
    choices: tuple = (),
) -> BoardData:
    """The lanes (a count per status value, grouped by the database) and up to `limit` cards
    of each; `known` lanes (seen earlier on the page) and an enum's choices stay, empty or not."""
    spec = AggregateSpec(x=status, agg="count", top_n=MAX_LANES, query=Query(with_count=False))
    data = aggregate_rows(opened, spec)
    xs = list(data["x"])
    ys = list(data["series"][0]["y"]) if data["series"] else [0] * len(xs)
    hidden = 0
    if len(xs) > MAX_LANES:  # the last one is every further value counted together
        hidden = int(ys[-1] or 0)
        xs, ys = xs[:MAX_LANES], ys[:MAX_LANES]
    counts = {x: int(y or 0) for x, y in zip(xs, ys, strict=True)}
    values = ordered_lanes([*counts, *choices, *known], list(choices))
    lanes = [Lane(value, counts.get(value, 0)) for value in values]
    for lane in lanes:
        if lane.count:
            lane.cards = read_cards(opened, status, title, lane.value, limit)
    return BoardData(lanes=lanes, total=sum(counts.values()) + hidden, hidden=hidden)


def read_cards(
    opened: rows.OpenTable, status: str, title: str | None, value: Any, limit: int
) -> list[Card]:
    """The first `limit` rows (in the table's key order) whose status is `value`."""
    condition = Filter(status, "isnull") if value is None else Filter(status, "eq", value)
    columns = [status] + ([title] if title else [])
    query = Query(limit=limit, filters=[condition], columns=columns, with_count=False)
    page = rows.read_page(opened, query)
    cards = []
    for row in page["rows"]:
        text = row["values"].get(title) if title else None
        cards.append(Card(key=row["key"], title=_shorten(text)))
    return cards


def _shorten(value: Any) -> str:
    if value is None or value == "":
        return "(untitled)"
    text = str(value)
    return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1] + "…"


# --- the page ------------------------------------------------------------------------------------


class KanbanView(BaseView):
    """Cards in lanes by a status column; drag a card to change its status."""

    # Set per plugin instance (plugin.KanbanViewPlugin): the configuration the board follows.
    settings: KanbanSettings = KanbanSettings()

    def get_view_name(self) -> str:
        return "Kanban"

    def can_handle_table(self, table_meta: dict) -> bool:
        columns = table_meta.get("columns") or []
        return status_column(columns, self.settings.status_columns) is not None

    def render(self) -> None:
        if self.context is None:
            ui.label("The kanban board needs a Nocoflo page to show a table.")
            return
        board = Board(self.context, self.settings)
        if board.status is None:  # the configuration changed since the view was offered
            names = ", ".join(self.settings.status_columns) or "none"
            ui.label(f"This table has no text column named like a status ({names}).")
            return
        board.build()


class BoardElement(ui.column):
    """The board's outermost element; `board` is its state (tests reach it this way)."""

    def __init__(self, board: Board) -> None:
        super().__init__()
        self.board = board


class KanbanLane(ui.column):
    """One lane: the rows whose status is `value`."""

    def __init__(self, value: Any, count: int) -> None:
        super().__init__()
        self.value = value
        self.count = count


class KanbanCard(ui.card):
    """One row, shown by its title and key."""

    def __init__(self, key: str | None, lane: Any, title: str) -> None:
        super().__init__()
        self.key = key
        self.lane = lane
        self.title = title


class Board:
    """The state of one kanban board on one page."""

    def __init__(self, context: Any, settings: KanbanSettings) -> None:
        self.context = context
        opened = context.opened
        self.table = opened.table
        self.columns = opened.describe_columns()
        self.status = status_column(self.columns, settings.status_columns)
        self.title = title_column(self.columns, self.status)
        self.limit = int(settings.max_cards_per_lane)
        self.keys = list(opened.table.key_columns)
        status_meta = next((c for c in self.columns if c["name"] == self.status), {})
        self.status_label = status_meta.get("label") or self.status or ""
        self.choices = tuple(status_meta.get("choices") or ())
        self.may_write = opened.may("write")
        self.status_editable = bool(self.keys) and bool(status_meta.get("editable"))
        # Dragging is offered to those who may write; rows.update_row checks again on the server.
        self.can_move = self.may_write and self.status_editable and not opened.table.read_only
        self.known: list[Any] = []
        self.data: BoardData | None = None
        self.dragged: tuple[str, Any] | None = None
        self.lanes: dict[Any, KanbanLane] = {}
        self.client: Any = None
        # Boards drawn so far (tests and callers wait on it).
        self.loads = 0
        self._generation = 0
        self._reload: asyncio.Task | None = None
        self._unsubscribe: Any = None

    def build(self) -> None:
        ui.add_css(CSS)
        with BoardElement(self).classes("w-full gap-2 nocoflo-kanban"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(f"Lanes by {self.status_label}").classes("text-subtitle1")
                self.summary = ui.label("Loading…").classes("text-grey-8 kanban-summary")
                ui.space()
                ui.button("Refresh", icon="refresh", on_click=self.load).props("flat")
            if self.can_move:
                hint = f"Drag a card to another lane to change its {self.status_label}."
            elif self.table.read_only:
                hint = f"Read-only: {self.table.read_only_message}"
            elif not self.may_write:
                hint = "You may read this table but not change it: cards cannot be moved."
            else:
                hint = f"{self.status_label} cannot be changed here: cards cannot be moved."
            ui.label(hint).classes("text-caption text-grey-7 kanban-hint")
            self.note = ui.label().classes("text-caption text-amber-10 kanban-note")
            self.note.set_visibility(False)
            self.area = (
                ui.row()
                .classes("w-full no-wrap items-start gap-3 kanban-board")
                .style("overflow-x: auto")
            )
            with self.area:
                ui.spinner(size="lg")
        self.client = ui.context.client
        self.client.on_delete(self.close)
        self._unsubscribe = events.subscribe(self.table.pk, self.on_bus_event)
        # Reading rows cannot happen in render (synchronous): right after it.
        ui.timer(0, self.load, once=True)

    # --- reading -----------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the lanes and cards again and draw them, or say what went wrong."""
        self._generation += 1
        generation = self._generation
        try:
            data = await self.context.run(
                read_board, self.status, self.title, self.limit, tuple(self.known), self.choices
            )
        except (DatasourceError, PluginError) as exc:
            if generation == self._generation and not self.gone:
                self.show_problem(str(exc))
            return
        except Exception:  # never a traceback in front of a user
            log.exception("reading the kanban board failed")
            if generation == self._generation and not self.gone:
                self.show_problem("Something went wrong on the server; it has been logged")
            return
        if generation != self._generation or self.gone:
            return  # a newer read is on its way, or the board left the page
        self.data = data
        for lane in data.lanes:
            if lane.value not in self.known:
                self.known.append(lane.value)
        self.draw(data)
        self.loads += 1

    def draw(self, data: BoardData) -> None:
        self.area.clear()
        self.lanes = {}
        with self.area:
            if not data.lanes:
                ui.label("No rows yet.").classes("text-grey-8 kanban-empty-board")
            for lane in data.lanes:
                self.draw_lane(lane)
        self.summary.text = f"{data.total:,} rows in {len(data.lanes):,} lanes"
        if data.hidden:
            self.note.text = (
                f"{data.hidden:,} rows have one of the further values of {self.status_label} "
                f"(beyond {MAX_LANES} lanes) and are not shown."
            )
        self.note.set_visibility(bool(data.hidden))

    def draw_lane(self, lane: Lane) -> None:
        element = KanbanLane(lane.value, lane.count).classes("gap-2 kanban-lane")
        self.lanes[lane.value] = element
        with element:
            with ui.row().classes("w-full items-center no-wrap gap-1"):
                ui.label(lane_label(lane.value)).classes("text-weight-bold kanban-lane-title")
                ui.space()
                ui.badge(f"{lane.count:,}").props("color=grey-7").classes("kanban-lane-count")
            for card in lane.cards:
                self.draw_card(card, lane.value)
            if lane.more:
                ui.label(f"{lane.more:,} more").classes("text-caption text-grey-7 kanban-more")
            if not lane.count:
                ui.label("No cards").classes("text-caption text-grey-6 kanban-no-cards")
        if self.can_move:
            element.on("dragover.prevent", js_handler=DRAGOVER_JS)
            element.on("dragleave", js_handler=DRAGLEAVE_JS)
            element.on("drop", partial(self.dropped, lane.value), js_handler=DROP_JS)

    def draw_card(self, card: Card, lane_value: Any) -> None:
        element = KanbanCard(card.key, lane_value, card.title).props("flat bordered")
        element.classes("w-full q-pa-sm gap-0 kanban-card")
        with element:
            ui.label(card.title).classes("text-body2 kanban-card-title")
            if card.key is not None:
                label = key_label(card.key, len(self.keys))
                ui.label(f"key {label}").classes("text-caption text-grey-7 kanban-card-key")
        if self.can_move and card.key is not None:
            element.props("draggable")
            start = partial(self.drag_started, card.key, lane_value)
            element.on("dragstart", start, js_handler=DRAGSTART_JS)

    def show_problem(self, message: str) -> None:
        self.area.clear()
        self.summary.text = ""
        with self.area, ui.card().classes("w-full bg-red-1 text-red-10 kanban-problem"):
            ui.label(message)

    # --- moving cards --------------------------------------------------------------------------

    def drag_started(self, key: str, lane_value: Any) -> None:
        self.dragged = (key, lane_value)

    async def dropped(self, target: Any) -> None:
        if self.dragged is None:
            return
        (key, source), self.dragged = self.dragged, None
        if source == target:
            return
        await self.move(key, source, target)

    async def move(self, key: str, source: Any, target: Any) -> None:
        """Set the row's status from `source` to `target`, only if it still is `source`.

        Whatever happens, the user is told and the board is read again."""
        try:
            await self.context.run(
                rows.update_row,
                key,
                {self.status: target},
                {self.status: source},
                holder=self.context.client_id,
            )
        except WriteConflict as exc:
            now = lane_label(exc.current.get(self.status, source))
            ui.notify(
                f"Someone else changed this row meanwhile (its {self.status_label} is now "
                f"{now}): nothing was written. The board has been reloaded.",
                type="warning",
                multi_line=True,
            )
        except RowLocked as exc:
            ui.notify(
                f"{exc.locked_by} is editing this row, so the card was not moved; "
                "try again when they are done.",
                type="warning",
            )
        except RowNotFound:
            ui.notify("This card's row no longer exists: someone deleted it.", type="warning")
        except (DatasourceError, PluginError) as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
        except Exception:  # never a traceback in front of a user
            log.exception("moving a kanban card failed")
            ui.notify("Something went wrong on the server; it has been logged", type="negative")
        else:
            ui.notify(f"Moved to {lane_label(target)}", type="positive", timeout=1500)
        await self.load()

    # --- others' changes -----------------------------------------------------------------------

    @property
    def gone(self) -> bool:
        """The page closed, or replaced the board (a plugin turned off)."""
        return self.client is None or self.client.is_deleted or self.area.is_deleted

    def on_bus_event(self, event: dict) -> None:
        """An event on the table's channel (on this page's event loop): others' row changes
        reload the board, once for a burst of them."""
        if self.gone:
            self.close()
            return
        if event.get("type") not in ROW_EVENTS or event.get("holder") == self.context.client_id:
            return
        if self._reload is not None and not self._reload.done():
            return
        self._reload = background_tasks.create(self._reload_soon(), name="nocoflo kanban reload")

    async def _reload_soon(self) -> None:
        await asyncio.sleep(RELOAD_DELAY_SECONDS)
        if self.gone:
            return
        with self.client:
            await self.load()

    def close(self) -> None:
        """The page is gone: stop listening to the table."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
