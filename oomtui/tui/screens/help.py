"""HelpScreen: every key, from the bindings themselves."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

INTRO = ("oomtui simulates a Linux machine's memory. Select a process in the table (↑/↓), then "
         "act on it; hover a gauge (or press e) to see the kernel formula behind its number. "
         "Sizes in dialogs take units: 4096, 512K, 512M, 2G.")


class HelpScreen(Screen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Back", id="help-back"),
                Binding("w", "app.welcome", "Welcome and the one-minute tour", id="help-welcome")]

    def __init__(self, groups: list[tuple[str, list[Binding]]]):
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        yield Static(INTRO, id="help-intro")
        yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("where", "key", "does", "id")
        for where, bindings in self.groups:
            for b in bindings:
                keys = ", ".join(self.app.get_key_display(Binding(k, "")) for k in b.key.split(","))
                table.add_row(where, keys, b.tooltip or b.description, b.id or "")
