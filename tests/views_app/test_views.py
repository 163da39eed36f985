"""The view contract, the table view's column definitions and its typed inputs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from nicegui import ui
from nicegui.testing import User

from views_app.base import BaseView, table_meta_dict
from views_app.builtin.table import (
    DATE_OPTIONS,
    NUMBER_OPTIONS,
    READ_ONLY_KINDS,
    TEXT_OPTIONS,
    TableView,
    TableViewPlugin,
    column_def,
    typed_input,
)

ALL_KINDS = (
    "integer", "real", "decimal", "text", "boolean", "date", "datetime", "time", "json", "uuid",
    "enum", "array", "binary", "other",
)  # fmt: skip


def column(name: str = "c", kind: str = "text", **overrides) -> dict:
    """A column as OpenTable.describe_columns() describes it."""
    return {
        "name": name,
        "label": overrides.pop("label", name),
        "type": kind,
        "db_type": overrides.pop("db_type", ""),
        "nullable": overrides.pop("nullable", True),
        "primary_key": overrides.pop("primary_key", False),
        "max_length": overrides.pop("max_length", None),
        "editable": overrides.pop("editable", True),
        "references": "",
        **overrides,
    }


# --- the view contract --------------------------------------------------------------------------


@pytest.mark.unit
def test_base_view_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        BaseView(1, None)

    class Partial(BaseView):
        def render(self) -> None:
            pass

    with pytest.raises(TypeError, match="get_view_name"):
        Partial(1, None)

    class Complete(Partial):
        priority = 7

        def get_view_name(self) -> str:
            return "Complete"

        def can_handle_table(self, table_meta: dict) -> bool:
            return bool(table_meta)

    view = Complete(3, "source")  # the architecture document's two-argument constructor
    assert (view.table_id, view.datasource, view.context) == (3, "source", None)
    assert view.get_priority() == 7
    assert Complete(3, "source", context="ctx").context == "ctx"
    # The abstract methods' bodies are only docstrings.
    assert BaseView.render(view) is None
    assert BaseView.get_view_name(view) is None
    assert BaseView.can_handle_table(view, {}) is None


@pytest.mark.unit
def test_table_meta_dict():
    table = SimpleNamespace(pk=4, name="orders", label="Orders", read_only=False)
    columns = [
        SimpleNamespace(name="id", kind="integer", nullable=False, primary_key=True),
        SimpleNamespace(name="note", kind="text", nullable=True, primary_key=False),
    ]
    assert table_meta_dict(table, columns) == {
        "id": 4,
        "name": "orders",
        "label": "Orders",
        "read_only": False,
        "columns": [
            {"name": "id", "type": "integer", "nullable": False, "primary_key": True},
            {"name": "note", "type": "text", "nullable": True, "primary_key": False},
        ],
    }


@pytest.mark.integration
def test_table_meta_dict_of_a_discovered_table(orders_table):
    meta = table_meta_dict(orders_table, list(orders_table.columns.all()))
    assert meta["id"] == orders_table.pk
    assert meta["name"] == meta["label"] == "orders"
    assert meta["read_only"] is False
    assert meta["columns"][0] == {
        "name": "id", "type": "integer", "nullable": False, "primary_key": True,
    }  # fmt: skip
    assert [c["type"] for c in meta["columns"]][-2:] == ["boolean", "text"]


@pytest.mark.unit
def test_table_view_plugin():
    plugin = TableViewPlugin()
    assert plugin.get_view_class() is TableView
    assert plugin.get_view_priority() == 1
    view = TableView(1, None)
    assert view.get_view_name() == "Table"
    assert view.can_handle_table({"columns": []}) is True


# --- column definitions -------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_column_def_for_each_kind(kind):
    definition = column_def(column("amount", kind, label="Amount", db_type="SOME TYPE"), True)
    assert definition["field"] == definition["colId"] == "amount"
    assert definition["headerName"] == f"Amount · {kind}"
    assert definition["headerTooltip"] == "SOME TYPE"
    # Binary, array and unknown values are shown, never edited.
    assert definition["editable"] is (kind not in READ_ONLY_KINDS)
    assert definition["filterParams"]["maxNumConditions"] == 1
    assert definition["filterParams"]["buttons"] == ["apply", "reset"]
    assert "pinned" not in definition
    expected = {
        "integer": ("agNumberColumnFilter", NUMBER_OPTIONS, "number"),
        "real": ("agNumberColumnFilter", NUMBER_OPTIONS, "number"),
        "date": ("agDateColumnFilter", DATE_OPTIONS, "text"),
        "datetime": ("agDateColumnFilter", DATE_OPTIONS, "text"),
        "boolean": ("agTextColumnFilter", ["equals", "blank", "notBlank"], "boolean"),
    }.get(kind, ("agTextColumnFilter", TEXT_OPTIONS, "text"))
    assert (
        definition["filter"],
        definition["filterParams"]["filterOptions"],
        definition["cellDataType"],
    ) == expected
    assert (definition.get("type") == "rightAligned") == (kind in ("integer", "real"))
    if kind in ("json", "array", "other", "binary"):
        assert definition["valueFormatter"] is None
        assert "JSON.stringify(p.value)" in definition[":valueFormatter"]
    else:
        assert ":valueFormatter" not in definition


@pytest.mark.unit
def test_enum_columns_are_edited_with_a_list_of_their_choices():
    nullable = column_def(column("mood", "enum", choices=["happy", "sad"]), True)
    assert nullable["cellEditor"] == "agSelectCellEditor"
    assert nullable["cellEditorParams"] == {"values": [None, "happy", "sad"]}
    required = column_def(column("mood", "enum", choices=["happy"], nullable=False), True)
    assert required["cellEditorParams"] == {"values": ["happy"]}
    # Until describe_columns() carries choices, an enum is edited as text.
    assert "cellEditor" not in column_def(column("mood", "enum"), True)
    assert column_def(column("tags", "array"), True)["editable"] is False


@pytest.mark.unit
def test_column_def_editability_and_primary_key():
    assert column_def(column(kind="text"), can_write=False)["editable"] is False
    assert column_def(column(kind="text", editable=False), can_write=True)["editable"] is False
    key = column_def(column("id", "integer", primary_key=True, editable=False), True)
    assert key["pinned"] == "left"
    assert key["editable"] is False
    # Without a database type the tooltip names the kind.
    assert column_def(column(kind="real"), True)["headerTooltip"] == "real"


# --- typed inputs -------------------------------------------------------------------------------


@pytest.fixture
async def page(user: User):
    """An empty page to build inputs on."""

    @ui.page("/inputs")
    def inputs_page() -> None:
        ui.label("inputs")

    await user.open("/inputs")
    return user


@pytest.mark.unit
async def test_typed_input_for_each_kind(page: User):
    with page:
        key = typed_input(column("id", "integer", primary_key=True, nullable=False))
        integer = typed_input(column("n", "integer", db_type="BIGINT"))
        real = typed_input(column("r", "real", nullable=False))
        nullable_bool = typed_input(column("b", "boolean"))
        required_bool = typed_input(column("rb", "boolean", nullable=False))
        date = typed_input(column("d", "date"))
        datetime = typed_input(column("dt", "datetime"))
        text = typed_input(column("t", "text", max_length=12, db_type="VARCHAR(12)"))
        unlimited = typed_input(column("u", "text"))
        decimal = typed_input(column("dec", "decimal", db_type="NUMERIC(10, 2)"))
        mood = typed_input(column("mood", "enum", choices=["happy", "sad"]))
        required_mood = typed_input(column("m2", "enum", choices=["happy"], nullable=False))
        free_enum = typed_input(column("m3", "enum"))

    assert isinstance(key, ui.number)
    assert key.props["label"] == "id *"
    assert key.props["placeholder"] == "automatic"
    assert "hint" not in key.props

    assert isinstance(integer, ui.number)
    assert integer.props["label"] == "n"
    assert integer.format == "%d"
    assert integer.props["hint"] == "BIGINT"
    assert integer.props["outlined"] is True and integer.props["dense"] is True
    assert "w-full" in integer.classes

    assert isinstance(real, ui.number)
    assert real.props["label"] == "r *"
    assert real.format is None
    assert real.props["hint"] == "real"

    assert isinstance(nullable_bool, ui.select)
    assert nullable_bool.options == {None: "(empty)", True: "true", False: "false"}
    assert nullable_bool.props["label"] == "b"

    assert isinstance(required_bool, ui.switch)
    assert required_bool.text == "rb *"
    assert required_bool.value is False

    assert isinstance(date, ui.input)
    assert date.props["placeholder"] == "YYYY-MM-DD"
    (picker,) = [e for e in date.descendants() if isinstance(e, ui.date)]
    (menu,) = [e for e in date.descendants() if isinstance(e, ui.menu)]
    (icon,) = [e for e in date.descendants() if isinstance(e, ui.icon)]
    assert icon.name == "event"
    with page:
        picker.value = "2024-02-29"  # picking a date fills the input and closes the menu
        menu.open()
        picker.value = "2024-03-01"
    assert date.value == "2024-03-01"
    assert menu.value is False

    assert isinstance(datetime, ui.input)
    assert datetime.props["placeholder"] == "YYYY-MM-DD HH:MM:SS"

    assert isinstance(text, ui.input)
    assert text.props["maxlength"] == "12"
    assert text.props["counter"] is True
    assert text.props["hint"] == "VARCHAR(12)"
    assert "maxlength" not in unlimited.props

    assert isinstance(decimal, ui.input)  # typed as text, validated by the datasource
    assert not isinstance(decimal, ui.number)  # no float rounding on the way

    assert isinstance(mood, ui.select)
    assert mood.options == {None: "(empty)", "happy": "happy", "sad": "sad"}
    assert mood.props["hint"] == "enum"
    assert isinstance(required_mood, ui.select)
    assert required_mood.options == {"happy": "happy"}
    assert required_mood.props["label"] == "m2 *"
    assert isinstance(free_enum, ui.input) and not isinstance(free_enum, ui.select)
    assert decimal.props["hint"] == "NUMERIC(10, 2)"


@pytest.mark.unit
async def test_date_icon_opens_the_picker(page: User):
    with page:
        date = typed_input(column("d", "date"))
    (menu,) = [e for e in date.descendants() if isinstance(e, ui.menu)]
    assert menu.value is False
    page.find(ui.icon).trigger("click")
    assert menu.value is True
