"""LevelEndScreen: a level won or lost: the verdict, the score and its parts, and the debrief
(what happened, in kernel terms and this run's numbers); retry, the next level, the levels."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from oomtui.tui.widgets.key_footer import KeyFooter

VERDICT_STYLE = {"won": "bold reverse green", "lost": "bold reverse red"}


def score_table(ending) -> Table:
    """The score's parts, each with the points it gave, and the total."""
    table = Table(box=None, show_header=False, padding=(0, 1), expand=False)
    table.add_column("part")
    table.add_column("points", justify="right", no_wrap=True)
    for part in ending.score.parts:
        table.add_row(Text(part.text), f"{part.points:+d}")  # a part names processes: text
    won = ending.status.state == "won"
    best = (" · a new best" if ending.new_best and won else
            "" if ending.best is None else f" · best {ending.best}")
    table.add_row(Text("score (never below 0)" + best, style="bold"),
                  Text(str(ending.score.total), style="bold"))
    return table


class LevelEndScreen(Screen):
    BINDINGS = [
        Binding("r", "retry", "Retry", id="end-retry"),
        Binding("n", "next", "Next level", id="end-next"),
        Binding("p", "levels", "Levels", id="end-levels"),
        Binding("escape", "app.pop_screen", "Look at the machine", id="end-look"),
    ]

    def __init__(self, ending):
        super().__init__()
        self.ending = ending

    def compose(self) -> ComposeResult:
        e = self.ending
        state = e.status.state
        with VerticalScroll(id="end-body"):
            yield Static(Text.assemble((f" {state.upper()} ", VERDICT_STYLE.get(state, "bold")),
                                       " ", (f"Level {e.level.order}: {e.level.title}", "bold")),
                         id="end-title")
            yield Static(Text(e.status.reason), id="end-reason")
            yield Static(score_table(e), id="end-score")
            if e.warning:
                yield Static(Text(e.warning), id="end-warning")
            yield Static(Text("\n\n".join(e.debrief)), id="end-debrief")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#end-score").border_title = "Score"
        self.query_one("#end-debrief").border_title = "What happened"

    def action_retry(self) -> None:
        self.app.pop_screen()
        self.app.retry_level(self.ending.level)

    def action_next(self) -> None:
        e = self.ending
        if e.next_level is None:
            self.notify("that was the last level of the campaign", severity="warning")
        elif not e.next_open:
            self.notify(f"{e.next_level.title!r} opens once this level is won",
                        severity="warning")
        else:
            self.app.pop_screen()
            self.app.play_level(e.next_level)

    def action_levels(self) -> None:
        self.app.pop_screen()
        self.app.action_picker()
