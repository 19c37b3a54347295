"""PickerScreen (ctrl+o, from anywhere): everything the app can open, in one list.

The levels with their state (locked, open, won and the best score), the built-in scenarios with
their descriptions (each also a sandbox's starting point), the example saves shipped with the
package, the user's own saves, and a path typed in. Names come from files: they are shown as
text, never read as markup. A file that cannot be opened is a message, never a traceback.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from oomtui.tui.fmt import error_text

# Rows of the picker that are not its list: border 2, title 1, the line about the highlighted
# entry 3, the path box 3, the error line 1.
CHROME_ROWS = 10


@dataclass(frozen=True)
class Pick:
    """One thing to open: a level, a scenario, a save (by path), or the sandbox dialog."""
    kind: str  # "level" | "scenario" | "save" | "sandbox"
    what: object = None  # the Level, the Scenario, or the save's Path
    about: str = ""  # the line shown under the list while it is highlighted
    locked: str = ""  # why a locked level cannot be played yet ("" when it can)


def save_label(s) -> str:
    """A save (saves.SaveInfo) as the picker lists it."""
    if s.error is not None:
        return f"{s.path.name} (broken)"
    return (f"{s.scenario or '-'} · tick {s.tick} ({s.seconds:.2f} s) · "
            f"{s.saved_at.astimezone():%Y-%m-%d %H:%M} · {s.path.name}")


def level_picks() -> tuple[list[tuple[str, Pick]], str]:
    """(label, Pick) per level in campaign order, and the progress file's warning ("" if none)."""
    from oomtui.game import Progress, all_levels, builtin_levels

    progress = Progress.load()
    warning = progress.warning
    try:
        levels = all_levels()
    except OSError as e:  # a user's level file that does not load: the built-in ones still do
        levels, warning = builtin_levels(), error_text(e)
    picks, previous = [], None
    for level in levels:
        state, best = progress.state(level.id), progress.best(level.id)
        shown = {"won": f"won, best {best}" if best is not None else "won",
                 "open": "open", "locked": "locked"}[state]
        # only a built-in level after the first is ever locked: `previous` is the one to win
        locked = f"locked: win level {previous.order} first" if state == "locked" else ""
        about = (f"{'★' * level.difficulty}{'☆' * (5 - level.difficulty)} · teaches "
                 f"{', '.join(level.teaches)} · goal: {level.goal_text}")
        picks.append((f"{level.order:>2}. {level.title}  [{shown}]",
                      Pick("level", level, about, locked)))
        previous = level
    return picks, warning


def scenario_picks() -> list[tuple[str, Pick]]:
    """(name, Pick) per built-in scenario, with its description."""
    from oomtui import scenarios

    out = []
    for name in scenarios.builtin_names():
        s = scenarios.builtin(name)
        out.append((name, Pick("scenario", s, s.description)))
    return out


def user_save_picks() -> list[tuple[str, Pick]]:
    """(label, Pick) per save in the user's saves directory, newest first."""
    from oomtui import saves

    return [(save_label(s), Pick("save", s.path, s.error or f"saved as {s.path}"))
            for s in saves.list_saves()]


def example_picks() -> list[tuple[str, Pick]]:
    """(label, Pick) per example save shipped with the package, with its description."""
    from oomtui import saves
    from oomtui.examples import DESCRIPTIONS, EXAMPLES_DIR

    return [(f"{s.path.stem} · {s.seconds:.2f} s", Pick("save", s.path, DESCRIPTIONS[s.path.stem]))
            for s in sorted(saves.list_saves(EXAMPLES_DIR), key=lambda s: s.path.name)]


def typed(text: str) -> Pick:
    """What a typed path opens: a level or a scenario (read here, so a bad one is told at
    once), or a save (read by the engine worker). OSError or ValueError says why not."""
    if not text.strip():
        raise ValueError("type the path of a level or scenario (.toml) or of a save")
    path = Path(text.strip()).expanduser()
    if not path.is_file():
        raise OSError(errno.ENOENT, f"{path}: no such file")
    if path.suffix != ".toml":
        return Pick("save", path)
    from oomtui.game.level import is_level_file, load_level
    from oomtui.scenarios import load

    if is_level_file(path):
        return Pick("level", load_level(path))
    return Pick("scenario", load(path))


class PickerScreen(ModalScreen[Pick | None]):
    """The list and a path box; Enter opens the highlighted entry (or the typed path)."""

    BINDINGS = [Binding("escape", "dismiss", "Close", id="picker-close"),
                Binding("ctrl+o", "dismiss", "Close", id="picker-toggle", show=False)]

    def __init__(self):
        super().__init__()
        self.picks: dict[str, Pick] = {}
        """Option id -> what it opens."""

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label("Open a level, a scenario or a save", id="picker-title")
            yield OptionList(id="picker-list")
            yield Static(id="picker-about", markup=False)
            yield Input(placeholder="or type a path: a level or scenario .toml, or a save",
                        id="picker-path")
            yield Label("", id="picker-error", markup=False)

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        levels, warning = level_picks()
        sections = [
            ("Levels (campaign order; each one won opens the next)", levels),
            ("Scenarios: play freely", scenario_picks()
             + [("Sandbox: choose RAM, swap, overcommit, THP and processes…",
                 Pick("sandbox", about="Start from a built-in scenario and change its machine "
                                       "and processes"))]),
            ("Example saves", example_picks()),
            ("Your saves", user_save_picks() or [
                ("none yet: ctrl+s saves the moment shown", None)]),
        ]
        for heading, entries in sections:
            listing.add_option(Option(Content.styled(heading, "bold"), disabled=True))
            for label, pick in entries:
                key = f"pick-{len(self.picks)}"
                if pick is not None:
                    self.picks[key] = pick
                listing.add_option(Option(Content(f"  {label}"), id=key, disabled=pick is None))
        first = next(i for i, o in enumerate(listing.options) if not o.disabled)
        listing.highlighted = first
        listing.focus()
        if warning:
            self.query_one("#picker-error", Label).update(warning)

    def on_resize(self) -> None:
        # The list is as long as it needs up to the rows the rest leaves (as FormDialog's
        # fields): CSS cannot say that of an auto-height box.
        self.query_one(OptionList).styles.max_height = max(3, self.size.height - CHROME_ROWS)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        pick = self.picks.get(event.option.id)
        self.query_one("#picker-about", Static).update(pick.about if pick else "")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.choose(self.picks[event.option.id])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            pick = typed(event.value)
        except (OSError, ValueError) as e:
            self.query_one("#picker-error", Label).update(error_text(e))
            return
        self.choose(pick)

    def choose(self, pick: Pick) -> None:
        if pick.locked:
            self.query_one("#picker-error", Label).update(pick.locked)
            return
        self.dismiss(pick)


def open_pick(app, pick: Pick) -> None:
    """Open what was picked in the running app: a scenario runs from its boot (unless the app
    was started paused), a save opens paused where it was saved, a level starts with its
    briefing, the sandbox asks for its machine first. The screens over the main one close: they showed the machine it replaces."""
    if app.sim is None:
        app.notify("the engine is still being prepared", severity="warning")
        return
    while app.screen is not app.main:
        app.pop_screen()
    if pick.kind == "sandbox":
        from oomtui.tui.screens import sandbox

        sandbox.ask(app, lambda scenario: open_pick(app, Pick("scenario", scenario)))
    elif pick.kind == "level":
        app.play_level(pick.what)
    elif pick.kind == "scenario":
        paused = app.start["paused"]  # as the app was started: running, or paused (--paused)
        app.main.status(f"opening {pick.what.name}…")
        app.sim.open(pick.what, paused=paused, then=lambda start: app.notify(
            f"opened {start.name}{', paused (space runs)' if paused else ''}; R restarts it"))
    else:
        path = pick.what
        app.main.status(f"loading {path.name}…")
        app.sim.load(path, lambda start: app.notify(
            f"loaded {path.name}: {start.name}, paused (space runs)"))
