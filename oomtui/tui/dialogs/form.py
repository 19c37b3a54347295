"""FormDialog: a small form whose fields are parsed and checked before it closes.

Bad input keeps the dialog open with the reason under the fields; nothing reaches the engine
until every field parses. The fields scroll between the title and the buttons, so OK and
Cancel stay on screen however many fields there are (an 80×24 terminal holds about four).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from oomtui.tui.fmt import error_text, parse_size


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | size | int | choice | bool
    default: object = ""
    choices: tuple = ()  # (label, value) pairs for kind "choice"
    lo: int | None = None  # int range
    hi: int | None = None
    optional: bool = False  # empty input gives None
    allow_max: bool = False  # a size may be "max" (given as None)
    placeholder: str = ""
    check: Callable | None = None  # value -> the value to use; ValueError says why not


def parse(field: Field, raw) -> object:
    """The field's value from its widget's value, checked; ValueError says why not."""
    value = _parse(field, raw)
    return field.check(value) if field.check is not None else value


def _parse(field: Field, raw) -> object:
    if field.kind == "bool":
        return bool(raw)
    if field.kind == "choice":
        if raw is Select.BLANK:
            raise ValueError("choose one")
        return raw
    text = str(raw).strip()
    if not text:
        if field.optional:
            return None
        raise ValueError("required")
    if field.kind == "size":
        if field.allow_max and text == "max":
            return None
        return parse_size(text)
    if field.kind == "int":
        try:
            value = int(text, 0)
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
        if (field.lo is not None and value < field.lo) or (field.hi is not None and value > field.hi):
            raise ValueError(f"{value} is out of range {field.lo}..{field.hi}")
        return value
    return text


# Rows of the dialog that are not its fields: border 2, title 3 (with its margins), error line
# 1, buttons 3.
CHROME_ROWS = 9


class FormDialog(ModalScreen[dict | None]):
    """Fields, an error line, OK and Cancel. Enter submits, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog-cancel")]

    def __init__(self, title: str, fields: list[Field], note: str = "", ok: str = "OK",
                 check: Callable | None = None):
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.note = note
        self.ok = ok
        self.check = check
        """The fields' values -> what the dialog returns; a ValueError or the engine's OSError
        says why not (for what no single field can tell: a machine built from all of them)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            # Titles, notes, choices and errors hold comms, cgroup paths, file names and typed
            # input: shown as text, never read as markup
            yield Label(self.title_text, id="dialog-title", markup=False)
            with VerticalScroll(id="dialog-body", can_focus=False):
                if self.note:
                    yield Label(self.note, id="dialog-note", markup=False)
                for f in self.fields:
                    with Horizontal(classes="field"):
                        yield Label(f.label, classes="field-label", markup=False)
                        if f.kind == "choice":
                            yield Select([(Content(label), value) for label, value in f.choices],
                                         value=f.default, allow_blank=False, id=f"f-{f.name}")
                        elif f.kind == "bool":
                            yield Checkbox(value=bool(f.default), id=f"f-{f.name}")
                        else:
                            yield Input(str(f.default), placeholder=f.placeholder,
                                        id=f"f-{f.name}")
            yield Label("", id="dialog-error", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button(self.ok, variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_resize(self) -> None:
        # CSS cannot say "the screen's height less the title and buttons" of an auto-height box
        # (a 1fr body fills the screen even for one field): the fields' box is told in rows.
        self.query_one("#dialog-body").styles.max_height = max(3, self.size.height - CHROME_ROWS)

    def values(self) -> dict | None:
        """Every field parsed (and given to `check`), or None after showing the first
        problem."""
        out = {}
        for f in self.fields:
            widget = self.query_one(f"#f-{f.name}")
            try:
                out[f.name] = parse(f, widget.value)
            except ValueError as e:
                self.query_one("#dialog-error", Label).update(f"{f.label}: {e}")
                widget.focus()
                return None
        if self.check is None:
            return out
        try:
            return self.check(out)
        except (OSError, ValueError) as e:
            self.query_one("#dialog-error", Label).update(error_text(e))
            return None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        values = self.values()
        if values is not None:
            self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)
