"""CompareScreen: two branches side by side: who died and when, peak swap, PSI, where they end."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from oomtui.tui.fmt import human


def defaults(name: str) -> dict:
    """A policy's stock settings (the compare screen names only those changed)."""
    from oomtui.engine.daemons.driver import policy_settings  # the engine is loaded by now

    return policy_settings(name)


def rows(c, tick_ms: int) -> list[tuple[str, str, str]]:
    """(what, in branch A, in branch B) for a timeline.Comparison."""
    def s(tick: int) -> str:
        return f"{tick * tick_ms / 1000:.2f} s"

    def deaths(summary, which: str) -> str:
        only = set(c.deaths_only_in(which))
        return "\n".join(f"{'* ' if d in only else '  '}{s(d[0])} {d[2]}: {d[3]}"
                         for d in summary.deaths) or "none"

    def policy(summary) -> str:
        name, settings = summary.policy
        changed = ", ".join(f"{k} = {v!r}" for k, v in settings.items() if v != defaults(name)[k])
        return f"{name} ({changed})" if changed else name

    a, b = c.a, c.b
    return [
        ("branch", a.name, b.name),
        ("starts at", s(a.fork_tick), s(b.fork_tick)),
        ("OOM policy", policy(a), policy(b)),
        ("latest moment", f"tick {a.end_tick} ({s(a.end_tick)})",
         f"tick {b.end_tick} ({s(b.end_tick)})"),
        ("panicked", a.panicked or "no", b.panicked or "no"),
        ("peak swap used", human(a.peak_swap_kb << 10), human(b.peak_swap_kb << 10)),
        *((f"PSI {k} total", f"{a.psi_total_us[k] / 1e6:.2f} s", f"{b.psi_total_us[k] / 1e6:.2f} s")
          for k in ("some", "full")),
        ("state digest", a.digest[:16], b.digest[:16]),
        ("processes ended\n(* only here)", deaths(a, "a"), deaths(b, "b")),
    ]


class CompareScreen(Screen):
    BINDINGS = [Binding("escape,q,B", "app.pop_screen", "Back", id="compare-back")]

    def __init__(self, comparison, tick_ms: int):
        super().__init__()
        self.comparison = comparison
        self.tick_ms = tick_ms

    def compose(self) -> ComposeResult:
        table = Table(expand=True, show_lines=True)
        table.add_column("", style="bold", no_wrap=True)
        table.add_column("A")
        table.add_column("B")
        for what, a, b in rows(self.comparison, self.tick_ms):
            style = "bold yellow" if a != b and what != "branch" else ""
            table.add_row(what, Text(a, style=style), Text(b, style=style))
        yield Static("What differs between two branches (yellow: not the same)", id="compare-title")
        with VerticalScroll(id="compare"):
            yield Static(table)
        yield Footer()
