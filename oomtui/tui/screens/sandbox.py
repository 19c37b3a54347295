"""The sandbox: a machine of one's own, built from a built-in scenario in two FormDialogs.

The first asks which scenario to start from; the second is filled with its machine (RAM, swap,
overcommit mode, THP) and offers to keep its processes and add more running the workload
presets (oomtui.workloads). The machine is checked as the engine checks it, so a bad value keeps
the dialog open with the engine's errno and reason; then it plays freely, like any scenario.
"""

from __future__ import annotations

from dataclasses import replace

from oomtui.tui.dialogs.form import Field, FormDialog
from oomtui.tui.fmt import human

MiB = 1 << 20
MAX_EACH = 16  # processes of one preset the sandbox adds
OVERCOMMIT = (("0: heuristic (the default)", 0), ("1: always", 1),
              ("2: strict (CommitLimit)", 2))
THP = (("always", "always"), ("madvise", "madvise"), ("never", "never"))


def ask(app, play) -> None:
    """Open the sandbox's first dialog: which built-in scenario to start from; then the
    second; `play(scenario)` runs the sandbox built."""
    from oomtui import scenarios

    names = scenarios.builtin_names()
    running = app.sim.scenario.name  # a sandbox of it, if it is a built-in one
    first = running if running in names else scenarios.DEFAULT

    def then(v):
        if v is not None:
            machine(app, scenarios.builtin(v["start"]), play)

    app.push_screen(FormDialog(
        "Sandbox: start from", [Field("start", "scenario", "choice", first,
                                      tuple((n, n) for n in names))],
        note="Its machine and processes fill the next form; change what you like.",
        ok="Next"), then)


def _mib(lo: int):
    """A size field's check: whole MiB, at least lo; the value in MiB."""
    def check(size: int) -> int:
        if size % MiB or size < lo * MiB:
            raise ValueError(f"{human(size)} is not a whole number of MiB (≥ {lo}M)")
        return size // MiB
    return check


def _size(mib: int) -> str:
    """MiB as the size fields take it: 2G, 640M, 0."""
    return "0" if not mib else f"{mib // 1024}G" if mib % 1024 == 0 else f"{mib}M"


def build(base, v: dict):
    """The sandbox Scenario from the base scenario and the form's values; OSError (the
    engine's) for a machine it would refuse."""
    from oomtui.engine import SwapDevice

    config = base.config
    swap_now = sum(d.size_mib for d in config.swap)
    if v["swap"] == swap_now:
        swap = config.swap  # its devices, with their priorities
    else:
        swap = [SwapDevice(size_mib=v["swap"])] if v["swap"] else []
    config = replace(config, ram_mib=v["ram"], zones=None, swap=swap, thp=v["thp"],
                     sysctl={**config.sysctl, "vm.overcommit_memory": v["overcommit"]})
    kept = base.processes if v["keep"] else ()
    added = tuple({"comm": name if n == 1 else f"{name}-{i}", "workload": name}
                  for name, n in v["presets"].items() for i in range(1, n + 1))
    comms = ", ".join(p["comm"] for p in kept + added) or "none"
    return replace(
        base, name=f"sandbox ({base.name})", config=config, processes=kept + added,
        calls=base.calls if v["keep"] else (), important=base.important if v["keep"] else (),
        source="",
        description=(f"A sandbox from {base.name}: {_size(v['ram'])} RAM, "
                     f"{_size(v['swap']) if v['swap'] else 'no'} swap, overcommit mode "
                     f"{v['overcommit']}, THP {v['thp']}; processes: {comms}."))


def machine(app, base, play) -> None:
    """The second dialog, filled with `base`'s machine; OK gives the sandbox to `play`."""
    from oomtui.workloads import PRESETS

    config = base.config
    ram = sum(config.zone_pages()) >> 8
    swap = sum(d.size_mib for d in config.swap)
    comms = ", ".join(p["comm"] for p in base.processes) or "none"
    presets = sorted(PRESETS)

    def check(v: dict):
        v["presets"] = {name: v.pop(f"add-{name}") for name in presets}
        return build(base, v)

    app.push_screen(FormDialog(f"Sandbox from {base.name}", [
        Field("ram", "RAM", "size", _size(ram), check=_mib(1),
              placeholder="e.g. 512M, 4G"),
        Field("swap", "swap", "size", _size(swap), check=_mib(0),
              placeholder="0 for none"),
        Field("overcommit", "overcommit mode", "choice",
              config.sysctl.get("vm.overcommit_memory", 0), OVERCOMMIT),
        Field("thp", "THP", "choice", config.thp, THP),
        Field("keep", "keep its own", "bool", True),
        *(Field(f"add-{name}", f"+ {name}", "int", 0, lo=0, hi=MAX_EACH) for name in presets),
    ], note=(f"Keep its own processes and timed calls ({comms}), and add processes running "
             f"the workload presets: how many of each (0 to {MAX_EACH})."),
        ok="Play", check=check), lambda scenario: scenario is not None and play(scenario))
