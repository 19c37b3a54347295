"""AllocPath: Request → Commit → Fault → Reclaim → Swap → OOM, the deepest stage recent
allocations reached lit (from the engine's counters over the last half second)."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import Static

STAGES = ("Request", "Commit", "Fault", "Reclaim", "Swap", "OOM")
WINDOW_TICKS = 50


class AllocPath(Static):
    def __init__(self, **kw):
        super().__init__(**kw)
        self._samples: deque = deque()  # (tick, vmstat, Committed_AS)
        self.oom_tick: int | None = None
        """Tick of the last OOM kill seen."""
        self.refused_tick: int | None = None
        """Tick of the last ENOMEM from an overcommit check."""
        self.stage = ""
        """The lit stage ('' when nothing happened in the window)."""
        self._why: str | None = None  # the reason shown (None: nothing shown yet)

    def forget(self, oom_tick: int | None) -> None:
        """The machine jumped (a rewind, a load, a restart): what was seen belongs to another
        time or machine; the last OOM kill is the one in the history jumped to."""
        self._samples.clear()
        self.oom_tick, self.refused_tick = oom_tick, None

    def show(self, frame) -> None:
        vm, committed = frame.vmstat, frame.meminfo["Committed_AS"]
        samples = self._samples
        samples.append((frame.tick, vm, committed))
        while len(samples) > 1 and samples[1][0] <= frame.tick - WINDOW_TICKS:
            samples.popleft()
        _, old, old_committed = samples[0]
        d = {k: vm[k] - old[k] for k in ("pgfault", "pgscan_kswapd", "pgscan_direct", "pswpout")}
        def recent(tick):
            return tick is not None and frame.tick - WINDOW_TICKS < tick <= frame.tick

        if recent(self.oom_tick):
            stage, why = "OOM", "the OOM killer chose a victim"
        elif d["pswpout"]:
            stage, why = "Swap", f"{d['pswpout']} pages swapped out"
        elif d["pgscan_direct"] or d["pgscan_kswapd"]:
            stage = "Reclaim"
            why = f"{d['pgscan_kswapd']} pages scanned by kswapd, {d['pgscan_direct']} directly"
        elif recent(self.refused_tick):
            stage, why = "Commit", "refused: ENOMEM from the overcommit check"
        elif d["pgfault"]:
            stage, why = "Fault", f"{d['pgfault']} page faults"
        elif committed != old_committed:
            stage, why = "Commit", f"Committed_AS {committed - old_committed:+d} kB"
        else:
            stage, why = "", "no allocation"
        if (stage, why) == (self.stage, self._why):
            return  # the line is unchanged: no re-render
        self.stage, self._why = stage, why
        deepest = STAGES.index(stage) if stage else -1
        line = Text()
        for i, name in enumerate(STAGES):
            if i:
                line.append(" → ", style="dim")
            if i == deepest:
                style = "bold reverse red" if name in ("OOM", "Swap") or why.startswith("refused") \
                    else "bold reverse yellow"
            else:
                style = "bold" if i < deepest else "dim"
            line.append(name, style=style)
        line.append(f"   last 0.5 s: {why}", style="italic")
        self.update(line)
