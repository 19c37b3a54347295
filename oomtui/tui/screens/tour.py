"""TourScreen: the one-minute tour, a step per part of the main screen, over the live machine.

Each step lights one part (the -toured class: app's start.tcss) and says what it shows and
which keys act on it; the box sits on the half of the screen the part is not in. A narrow
terminal shows one lower pane at a time: the step brings its pane in. Enter or → goes on, ←
back, Esc ends the tour; it returns whether it was seen to the end.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static


@dataclass(frozen=True)
class Step:
    target: str  # a selector on the main screen
    title: str
    text: str
    pane: str | None = None  # the lower pane a narrow terminal must show (MainScreen)


STEPS = (
    Step("#status", "The header",
         "Simulated time (a tick is 10 ms), running ▶ or paused ⏸, the speed, and what is "
         "running. space pauses, . steps one tick, [ and ] change the speed."),
    Step("#path", "The path of an allocation",
         "Request → Commit (the overcommit check) → Fault (the first touch gives a page) → "
         "Reclaim → Swap → OOM: the stage the last allocation reached is lit."),
    Step("#procs-pane", "The processes",
         "RSS (anon, file, shmem), swap, page tables, oom_score and oom_score_adj. ↑/↓ selects "
         "one; keys act on it: m mmap, a touch, k kill, o oom_score_adj, l mlock."),
    Step("#grid-pane", "Physical memory",
         "Every frame of RAM, by type: free, anon, page cache, slab, page tables, mlocked. The "
         "selected process's pages are lit; a kind's share of the grid is its share of RAM.",
         pane="grid-pane"),
    Step("#gauges", "Watermarks and gauges",
         "Free pages against the zone watermarks: below low kswapd wakes, below min an "
         "allocation reclaims itself and stalls. Committed_AS against CommitLimit, swap, PSI. "
         "e explains each number with the kernel's formula.", pane="gauges"),
    Step("#events", "The event log",
         "What the kernel did and when: kswapd waking, calls refused with their errno, OOM "
         "kills. O opens the last OOM report: why that victim, in points.", pane="events"),
    Step("Footer", "The keys",
         "? lists every key, ctrl+p finds any action by name, ctrl+o opens levels, scenarios "
         "and saves, q quits. Enter now: play the first level."),
)


class TourScreen(ModalScreen[bool]):
    """The steps in turn; dismissed with True when the last one was passed."""

    BINDINGS = [Binding("enter,right", "next", "Next", id="tour-next"),
                Binding("left", "back", "Back", id="tour-back"),
                Binding("escape", "end", "End the tour", id="tour-end")]

    steps = STEPS

    def __init__(self):
        super().__init__()
        self.at = 0
        """The step shown."""

    def compose(self) -> ComposeResult:
        with Vertical(id="tour-box"):
            yield Label("", id="tour-title", markup=False)
            yield Static("", id="tour-text", markup=False)
            yield Static("Enter/→ next · ← back · Esc ends the tour", id="tour-keys")

    def on_mount(self) -> None:
        self.show_step()

    def _target(self):
        return self.app.main.query_one(self.steps[self.at].target)

    def show_step(self) -> None:
        step = self.steps[self.at]
        main = self.app.main
        for widget in main.query(".-toured"):
            widget.remove_class("-toured")
        if step.pane is not None:
            main.action_show_pane(step.pane)
        target = self._target()
        target.add_class("-toured")
        self.query_one("#tour-title", Label).update(
            f"{self.at + 1}/{len(self.steps)} · {step.title}")
        self.query_one("#tour-text", Static).update(step.text)
        self.call_after_refresh(self._place, target)  # a pane just brought in has no place yet

    def _place(self, target) -> None:
        """The box goes on the half of the screen the part is not in."""
        region = target.region
        self.set_class(region.y + region.height / 2 < self.app.main.size.height / 2, "-below")

    def action_next(self) -> None:
        if self.at + 1 == len(self.steps):
            self.finish(True)
            return
        self.at += 1
        self.show_step()

    def action_back(self) -> None:
        self.at = max(0, self.at - 1)
        self.show_step()

    def action_end(self) -> None:
        self.finish(False)

    def finish(self, seen: bool) -> None:
        self._target().remove_class("-toured")
        self.dismiss(seen)
