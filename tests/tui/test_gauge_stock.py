"""The memcg gauge draws the per-cpu charge stock apart from the memory in use: memory.current
runs ahead of use by what the stock holds (KERNEL.md §7)."""

from __future__ import annotations

from oomtui.tui.explain import Reading, memcg
from oomtui.tui.widgets.gauges import bar


def test_the_reserved_end_of_a_bar_is_drawn_apart():
    r = Reading("memcg-/a", "/a", value=80, limit=100, text="", why="", reserved=20)
    # 80 of 100 over 10 cells: 8 filled, of which the 60 in use are 6
    assert bar(r, 10).plain == "██████▒▒░░"


def test_the_memcg_reading_holds_its_stock():
    st = {"memory.current": 64 * 4096, "memory.high": "max", "memory.max": 1 << 20,
          "memory.min": 0, "memory.low": 0, "memory.swap.current": 0, "memory.swap.max": "max",
          "memory.events": {"oom_kill": 0}, "stock": 63 * 4096}
    frame = type("Frame", (), {"cgroups": {"/a": st}, "meminfo": {"MemTotal": 1 << 20}})
    r = memcg(frame, "/a")
    assert (r.value, r.reserved, r.limit) == (256, 252, 1024)  # kB
    assert "per-cpu stock" in r.why
