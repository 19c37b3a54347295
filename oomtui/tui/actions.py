"""Every key of the main screen: its binding, its dialog, and the engine Call it submits.

Dialogs only parse and check input; the engine has the last word, and a refusal comes back as
a notification with its errno (see OomApp.on_result). Mixed into MainScreen.
"""

from __future__ import annotations

from textual.binding import Binding

from oomtui.scenarios import Call
from oomtui.tui.dialogs.form import Field, FormDialog
from oomtui.tui.fmt import human

MiB = 1 << 20
SIGNALS = (("SIGKILL (9)", 9), ("SIGTERM (15)", 15))
PROTS = (("rw", "rw"), ("r", "r"), ("rwx", "rwx"), ("none", "none"))
KILL_LISTED = 8  # victims named in the kill-many confirmation (the rest are counted)
TUNABLE = ("vm.overcommit_memory", "vm.overcommit_ratio", "vm.swappiness", "vm.min_free_kbytes",
           "vm.watermark_scale_factor", "vm.panic_on_oom", "vm.oom_kill_allocating_task",
           "vm.vfs_cache_pressure", "vm.drop_caches")

ACTION_BINDINGS = [
    Binding("v", "next_pane", "Next pane", id="view-next-pane",
            tooltip="Next lower pane (under 120 columns)"),
    Binding("space", "pause", "Pause/run", id="sim-pause"),
    Binding("full_stop", "step", "Step", id="sim-step"),
    Binding("left_square_bracket", "speed(-1)", "Slower", id="sim-slower"),
    Binding("right_square_bracket", "speed(1)", "Faster", id="sim-faster"),
    Binding("slash", "filter", "Filter", id="proc-filter"),
    Binding("n", "spawn", "Spawn", id="proc-spawn"),
    Binding("f", "fork", "Fork", id="proc-fork", show=False),
    Binding("k", "kill", "Kill", id="proc-kill"),
    Binding("K", "kill_many", "Kill many", id="proc-kill-many",
            tooltip="Kill many: by name and/or cgroup"),
    Binding("m", "mmap", "mmap", id="proc-mmap"),
    Binding("u", "munmap", "munmap", id="proc-munmap", show=False),
    Binding("a", "touch", "Touch", id="proc-touch"),
    Binding("d", "madvise", "madvise", id="proc-madvise", show=False),
    Binding("l", "mlock", "mlock/munlock", id="proc-mlock", show=False),
    Binding("o", "adj", "oom_score_adj", id="proc-adj", show=False),
    Binding("g", "cgroup_move", "Move to cgroup", id="proc-cgroup", show=False),
    Binding("s", "sysctl", "sysctl", id="sys-sysctl"),
    Binding("c", "cgroup", "cgroup limits", id="sys-cgroup", show=False),
    Binding("P", "policy", "OOM policy", id="sys-policy", show=False),
    Binding("w", "swapon", "swapon", id="sys-swapon", show=False),
    Binding("W", "swapoff", "swapoff", id="sys-swapoff", show=False),
    Binding("O", "oom_report", "OOM report", id="view-oom"),
    Binding("e", "explain", "Explain gauges", id="view-explain", show=False),
    Binding("L", "log_filter", "Event log: kinds shown", id="view-log-filter", show=False),
    Binding("R", "restart", "Restart scenario", id="sim-restart", show=False),
    Binding("t", "travel(-1)", "Back 1 s in time", id="time-back"),
    Binding("T", "travel(1)", "Forward 1 s in time", id="time-forward", show=False),
    Binding("b", "branch", "Branch here", id="time-branch"),
    Binding("B", "compare", "Compare branches", id="time-compare", show=False),
    Binding("j", "switch_branch", "Jump to a branch", id="time-switch", show=False),
    Binding("ctrl+s", "save", "Save", id="file-save"),
]


def matches(row: dict, comm: str | None, cgroup: str | None) -> bool:
    """Whether kill_matching(comm=, cgroup=) would end this processes() row: init never, a
    name exactly (comm as the kernel keeps it), a cgroup with its subtree."""
    return (row["pid"] != 1 and (comm is None or row["comm"] == comm)
            and (cgroup is None or row["cgroup"] == cgroup
                 or row["cgroup"].startswith(cgroup + "/")))


class Actions:
    """The action_* methods of MainScreen."""

    # -- the simulation ------------------------------------------------------------------

    def action_pause(self) -> None:
        if self.app.sim is not None:
            self.app.sim.toggle_pause()
            if self.app.frame is not None:
                self.show_state(self.app.frame)

    def action_step(self) -> None:
        if self.app.sim is not None:
            self.app.sim.step()

    def action_speed(self, delta: int) -> None:
        if self.app.sim is not None:
            self.notify(f"speed ×{self.app.sim.set_speed(delta):g} (simulated seconds per second)")

    def action_restart(self) -> None:
        note = "Boot the scenario again from tick 0."
        if self.app.sim is not None:
            from oomtui.tui.sim import SaveStart  # the worker has loaded it already

            start = self.app.sim.scenario
            if isinstance(start, SaveStart):  # a save restarts where it was saved
                note = f"Load the save {start.name} again, at its tick {start.tick}."
        self._ask("Restart the scenario", [], lambda v: self.app.sim.restart(), note=note,
                  ok="Restart")

    # -- helpers -------------------------------------------------------------------------

    def _ask(self, title: str, fields: list[Field], then, note: str = "", ok: str = "OK") -> None:
        """Open a dialog; `then(values)` runs only if it was submitted with valid values."""
        if self.app.sim is None:
            self.notify("the engine is still being prepared", severity="warning")
            return
        self.app.push_screen(FormDialog(title, fields, note, ok),
                             lambda values: values is not None and then(values))

    def _submit(self, call: Call, label: str) -> None:
        self.app.sim.submit(call, label)

    def _process(self) -> dict | None:
        """The selected process's row in the latest frame, or None (after saying so)."""
        pid, frame = self.selected_pid, self.app.frame
        row = next((r for r in frame.processes if r["pid"] == pid), None) if frame else None
        if row is None:
            self.notify("select a process first (↑/↓ in the process table)", severity="warning")
        return row

    def _vma_fields(self, pid: int) -> list[Field] | None:
        frame = self.app.frame
        vmas = [v for v, _ in frame.vmas] if frame.pid == pid else []
        if not vmas:
            self.notify(f"PID {pid} has no mappings shown yet", severity="warning")
            return None
        choices = tuple((f"{v['start']:#x} {v['perms']} {human(v['end'] - v['start'])} "
                         f"{v['name'] or '[anon]'}", (v["start"], v["end"])) for v in vmas)
        big = max(vmas, key=lambda v: v["end"] - v["start"])
        return [Field("vma", "mapping", "choice", (big["start"], big["end"]), choices),
                Field("offset", "offset", "size", "0", placeholder="e.g. 0, 64M"),
                Field("length", "length", "size", "", optional=True,
                      placeholder="empty: to the mapping's end")]

    def _range_action(self, verb: str, extra: list[Field], make) -> None:
        """A dialog over a range of one of the selected process's mappings."""
        row = self._process()
        if row is None:
            return
        pid = row["pid"]
        fields = self._vma_fields(pid)
        if fields is None:
            return

        def then(v):
            start, end = v["vma"]
            addr = start + v["offset"]
            length = v["length"] if v["length"] is not None else max(end - addr, 0)
            name, args, kwargs, label = make(v, pid, addr, length)
            self._submit(Call(name, args, kwargs), label)

        self._ask(f"{verb} in {row['comm']}[{pid}]", fields + extra, then)

    # -- processes -----------------------------------------------------------------------

    def action_spawn(self) -> None:
        from oomtui.workloads import PRESETS

        workloads = (("none (idle)", ""),) + tuple((name, name) for name in sorted(PRESETS))

        def then(v):
            kwargs = {"oom_score_adj": v["adj"], "cgroup": v["cgroup"],
                      "workload": v["workload"] or None}
            self._submit(Call("spawn", (v["comm"],), kwargs), f"spawn {v['comm']}")

        self._ask("Spawn a process", [
            Field("comm", "name", "text", "worker"),
            Field("adj", "oom_score_adj", "int", 0, lo=-1000, hi=1000),
            Field("cgroup", "cgroup", "text", "/"),
            Field("workload", "workload", "choice", "", workloads),
        ], then)

    def action_fork(self) -> None:
        row = self._process()
        if row is None:
            return

        def then(v):
            for _ in range(v["count"]):
                self._submit(Call("fork", (row["pid"],)), f"fork {row['comm']}[{row['pid']}]")

        self._ask(f"Fork {row['comm']}[{row['pid']}]",
                  [Field("count", "children", "int", 1, lo=1, hi=64)], then,
                  note="Each child shares the parent's pages copy-on-write.")

    def action_kill(self) -> None:
        row = self._process()
        if row is None:
            return
        self._ask(f"Kill {row['comm']}[{row['pid']}]",
                  [Field("sig", "signal", "choice", 9, SIGNALS)],
                  lambda v: self._submit(Call("kill", (row["pid"], v["sig"])),
                                         f"kill -{v['sig']} {row['comm']}[{row['pid']}]"))

    def action_kill_many(self) -> None:
        """Kill every process of a name and/or in a cgroup subtree (pkill -x, cgroup.kill),
        after saying how many that is now."""
        frame = self.app.frame
        if frame is None:
            self.notify("the engine is still being prepared", severity="warning")
            return
        row = next((r for r in frame.processes if r["pid"] == self.selected_pid), None)
        groups = (("any cgroup", ""),) + tuple((p, p) for p in frame.cgroups if p != "/")

        def then(v):
            from oomtui.engine.machine import TASK_COMM_LEN  # loaded by the worker already

            comm = v["comm"][:TASK_COMM_LEN - 1] if v["comm"] else None  # as the kernel keeps it
            cgroup, sig = v["cgroup"] or None, v["sig"]
            if comm is None and cgroup is None:
                self.notify("give a name, a cgroup or both", severity="warning")
                return
            victims = [r for r in self.app.frame.processes if matches(r, comm, cgroup)]
            what = " in ".join(x for x in (comm, cgroup and f"cgroup {cgroup}") if x)
            if not victims:
                self.notify(f"no process matches {what}", severity="warning")
                return
            shown = ", ".join(f"{r['comm']}[{r['pid']}]" for r in victims[:KILL_LISTED])
            more = f" and {len(victims) - KILL_LISTED} more" if len(victims) > KILL_LISTED else ""
            kwargs = {"comm": comm, "cgroup": cgroup, "sig": sig}
            self._ask(f"Kill {len(victims)} processes ({what})?", [],
                      lambda _: self._submit(Call("kill_matching", (), kwargs),
                                             f"kill -{sig} {what}"),
                      note=f"{shown}{more}.", ok=f"Kill {len(victims)}")

        self._ask("Kill many processes", [
            Field("comm", "name", "text", row["comm"] if row else "", optional=True,
                  placeholder="empty: any name"),
            Field("cgroup", "cgroup", "choice", "", groups),
            Field("sig", "signal", "choice", 9, SIGNALS),
        ], then, note="Every process with exactly this name (pkill -x), in this cgroup and "
                      "below (cgroup.kill), or both; init is spared. The count comes next.")

    def action_adj(self) -> None:
        row = self._process()
        if row is None:
            return
        self._ask(f"oom_score_adj of {row['comm']}[{row['pid']}]",
                  [Field("adj", "oom_score_adj", "int", row["oom_score_adj"], lo=-1000, hi=1000)],
                  lambda v: self._submit(Call("set_oom_score_adj", (row["pid"], v["adj"])),
                                         f"oom_score_adj {row['comm']}[{row['pid']}] = {v['adj']}"),
                  note="Lowering it below its minimum needs CAP_SYS_RESOURCE (EACCES).")

    def action_mmap(self) -> None:
        row = self._process()
        if row is None:
            return

        def then(v):
            flags = "|".join([v["kind"]] + [f for f in ("noreserve", "populate", "locked") if v[f]])
            self._submit(Call("mmap", (row["pid"], v["length"]), {"prot": v["prot"], "flags": flags}),
                         f"mmap {human(v['length'])} ({flags}) in {row['comm']}[{row['pid']}]")

        self._ask(f"mmap in {row['comm']}[{row['pid']}]", [
            Field("length", "length", "size", "256M", placeholder="e.g. 512M, 2G"),
            Field("prot", "prot", "choice", "rw", PROTS),
            Field("kind", "mapping", "choice", "private|anonymous",
                  (("private anonymous", "private|anonymous"),
                   ("shared anonymous", "shared|anonymous"))),
            Field("noreserve", "MAP_NORESERVE", "bool", False),
            Field("populate", "MAP_POPULATE", "bool", False),
            Field("locked", "MAP_LOCKED", "bool", False),
        ], then)

    def action_munmap(self) -> None:
        self._range_action("munmap", [], lambda v, pid, addr, n: (
            "munmap", (pid, addr, n), {}, f"munmap {human(n)} at {addr:#x}"))

    def action_touch(self) -> None:
        self._range_action(
            "Touch", [Field("access", "access", "choice", "write", (("write", "write"),
                                                                  ("read", "read")))],
            lambda v, pid, addr, n: ("touch", (pid, addr, n), {"write": v["access"] == "write"},
                                     f"{v['access']} {human(n)} at {addr:#x}"))

    def action_madvise(self) -> None:
        from oomtui.engine.machine import ADVICE

        self._range_action(
            "madvise", [Field("advice", "advice", "choice", "dontneed",
                              tuple((f"MADV_{a.upper()}", a) for a in ADVICE))],
            lambda v, pid, addr, n: ("madvise", (pid, addr, n, v["advice"]), {},
                                     f"madvise {human(n)} at {addr:#x} {v['advice']}"))

    def action_mlock(self) -> None:
        self._range_action(
            "mlock", [Field("op", "operation", "choice", "mlock",
                            (("mlock", "mlock"), ("munlock", "munlock")))],
            lambda v, pid, addr, n: (v["op"], (pid, addr, n), {}, f"{v['op']} {human(n)} at {addr:#x}"))

    def action_cgroup_move(self) -> None:
        row = self._process()
        if row is None:
            return
        paths = tuple((p, p) for p in self.app.frame.cgroups)
        self._ask(f"Move {row['comm']}[{row['pid']}] to a cgroup",
                  [Field("path", "cgroup", "choice", row["cgroup"], paths)],
                  lambda v: self._submit(Call("cgroup_move", (row["pid"], v["path"])),
                                         f"move {row['comm']}[{row['pid']}] to {v['path']}"),
                  note="Pages already charged stay with the old group, as in the kernel.")

    # -- the system ----------------------------------------------------------------------

    def action_cgroup(self) -> None:
        """Create a cgroup, or change the limits of an existing one (prefilled with the
        selected process's group)."""
        frame = self.app.frame
        if frame is None:
            self.notify("the engine is still being prepared", severity="warning")
            return
        row = next((r for r in frame.processes if r["pid"] == self.selected_pid), None)
        path = row["cgroup"] if row and row["cgroup"] != "/" else "/app"
        st = frame.cgroups.get(path, {})

        def shown(key, default):
            value = st.get(key, default)
            return value if value == "max" or value % MiB else f"{value // MiB}M"

        def then(v):
            settings = {k: v[k] for k in ("memory_min", "memory_low", "memory_high",
                                          "memory_max", "swap_max", "oom_group")}
            for k in ("memory_min", "memory_low"):
                settings[k] = settings[k] or 0
            name = "cgroup_set" if v["path"] in self.app.frame.cgroups else "cgroup_create"
            self._submit(Call(name, (v["path"],), settings), f"{name} {v['path']}")

        size = dict(kind="size", allow_max=True, placeholder="e.g. 256M, or max")
        self._ask("Create or change a cgroup", [
            Field("path", "path", "text", path),
            Field("memory_min", "memory.min", default=shown("memory.min", 0), **size),
            Field("memory_low", "memory.low", default=shown("memory.low", 0), **size),
            Field("memory_high", "memory.high", default=shown("memory.high", "max"), **size),
            Field("memory_max", "memory.max", default=shown("memory.max", "max"), **size),
            Field("swap_max", "memory.swap.max", default=shown("memory.swap.max", "max"), **size),
            Field("oom_group", "memory.oom.group", "bool", bool(st.get("memory.oom.group"))),
        ], then, note="An existing path is changed (cgroup_set), a new one created.")

    def action_sysctl(self) -> None:
        current = self.app.frame.sysctl if self.app.frame else {}
        choices = tuple((f"{name} = {current.get(name, '?')}", name) for name in TUNABLE)
        self._ask("Write a sysctl", [
            Field("name", "sysctl", "choice", TUNABLE[0], choices),
            Field("value", "new value", "int", "", placeholder="an integer"),
        ], lambda v: self._submit(Call("sysctl", (v["name"], v["value"])),
                                  f"sysctl {v['name']}={v['value']}"))

    def action_policy(self) -> None:
        """Choose the OOM policy: the kernel's OOM killer alone, or a userspace daemon
        (earlyoom, systemd-oomd, nohang) beside it, with settings in TOML."""
        from oomtui.engine.daemons.driver import NAMES

        machine = getattr(self.app.sim, "machine", None)
        if machine is None:
            self.notify("the engine is still being prepared", severity="warning")
            return
        name, settings = machine.policy()  # a tuple read: safe beside the worker

        def then(v):
            self._submit(Call("set_policy", (v["name"], v["settings"] or {})),
                         f"OOM policy {v['name']}")

        self._ask("OOM policy", [
            Field("name", "policy", "choice", name, tuple((n, n) for n in NAMES)),
            Field("settings", "settings", "text", "", optional=True, check=_toml_settings,
                  placeholder='e.g. mem_term_percent = 15, avoid = "^postgres$"'),
        ], then, note=f"Now: {name}{' (' + _shown(settings) + ')' if settings else ''}. Empty "
                      "settings: the daemon's stock defaults. Who acts, and why, shows in the "
                      "event log.")

    def action_swapon(self) -> None:
        def then(v):
            if v["size"] % MiB or v["size"] < MiB:
                self.notify(f"swapon: {human(v['size'])} is not a whole number of MiB (≥ 1M)",
                            severity="error")
                return
            self._submit(Call("swapon", (v["size"] // MiB,), {"priority": v["prio"]}),
                         f"swapon {human(v['size'])}")

        self._ask("Add a swap area", [
            Field("size", "size", "size", "1G", placeholder="e.g. 512M, 2G"),
            Field("prio", "priority", "int", "", lo=0, hi=32767, optional=True,
                  placeholder="empty: the kernel picks -2, -3, …"),
        ], then)

    def action_swapoff(self) -> None:
        swaps = self.app.frame.swaps if self.app.frame else []
        if not swaps:
            self.notify("no active swap area", severity="warning")
            return
        choices = tuple((f"swap{d['dev']} {human(d['size'] * 1024)} used "
                         f"{human(d['used'] * 1024)} prio {d['priority']}", d["dev"]) for d in swaps)
        self._ask("swapoff", [Field("dev", "area", "choice", swaps[0]["dev"], choices)],
                  lambda v: self._submit(Call("swapoff", (v["dev"],)), f"swapoff swap{v['dev']}"),
                  note="Every swapped page must come back into RAM; the OOM killer's first "
                       "pick is the swapoff caller if it cannot.")

    # -- views ---------------------------------------------------------------------------

    def action_oom_report(self) -> None:
        from oomtui.tui.screens.oom import OomScreen

        if not self.app.oom_events:
            self.notify("no OOM kill yet", severity="information")
            return
        self.app.push_screen(OomScreen(self.app.oom_events, self.app.frame.tick_ms))

    def action_log_filter(self) -> None:
        from oomtui.tui.widgets.event_log import EventLog

        log = self.query_one(EventLog)
        kinds = sorted(set(log.kinds()) | log.hidden)
        self._ask("Event log: kinds shown",
                  [Field(kind, kind, "bool", kind not in log.hidden) for kind in kinds],
                  lambda v: log.hide(kind for kind in kinds if not v[kind]),
                  note="Scroll the log with the mouse, or focus it (tab) and use ↑/↓, PgUp/PgDn.")

    def action_explain(self) -> None:
        from oomtui.tui.screens.explain import ExplainScreen

        if self.app.frame is None:
            self.notify("the engine is still being prepared", severity="warning")
            return
        self.app.push_screen(ExplainScreen(self.app.frame))


def _toml_settings(text):
    """'key = value, ...' as a dict (the engine checks the keys and values)."""
    import tomllib

    if text is None:
        return None
    try:
        return tomllib.loads(f"s = {{{text}}}")["s"]
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"not TOML 'key = value, ...': {e}") from None


def _shown(settings: dict) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in settings.items())
