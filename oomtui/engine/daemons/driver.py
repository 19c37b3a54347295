"""The daemon driver: runs the chosen policy beside the kernel's OOM killer, tick by tick.

Machine.step calls Daemon.tick once a tick, after the processes ran and before the tick's stall
is accounted. At each of the daemon's polls (at its own interval, as the real one sleeps) it
gathers what the real daemon reads (facts.py), asks its policy, and acts through the public
kill path, Machine.kill, with the event log told who acts and why (EventLog.acting), so each
"kill" event carries `by` (the daemon), `why` and `freed_kb` (the victim's VmRSS + VmSwap); the
"daemon" event that says what it does carries the candidates as its policy ranked them
(`ranking`, first choice first), for the OOM screen.

SIGTERM is a real choice: the victim runs on for sigterm_grace_ms and then exits (killed by
signal 15). While it has not, the daemon picks no other victim (earlyoom's kill_wait, nohang's
victim dict); it sends SIGKILL if its policy asks for SIGKILL meanwhile, or after
sigterm_timeout_ms. The kernel's OOM killer does not wait for any of this: when an allocation
finds no memory, it kills as it always does.

The policy and its state (timers, pending SIGTERMs, the managed cgroups' memory.pressure) are
the machine's state: to_state/from_state save them, and set_policy is a logged call.
"""

from __future__ import annotations

import copy
import errno
from dataclasses import dataclass

from oomtui.engine.daemons import earlyoom, nohang, systemd_oomd
from oomtui.engine.daemons.facts import gather, named, within
from oomtui.engine.psi import MEMSTALL, Psi

POLICIES = {m.NAME: m for m in (earlyoom, systemd_oomd, nohang)}
NAMES = ("kernel", *POLICIES)  # "kernel": the kernel's OOM killer alone
SIGNAL = {9: "SIGKILL", 15: "SIGTERM"}


def policy_settings(name, given=None) -> dict:
    """A policy's settings: its defaults, overridden by `given`; OSError(EINVAL) if the name
    or a setting is bad."""
    if not isinstance(name, str) or name not in NAMES:
        raise OSError(errno.EINVAL, f"unknown OOM policy {name!r}: use {', '.join(NAMES)}")
    if name == "kernel":
        if given:
            raise OSError(errno.EINVAL, "kernel: the kernel's OOM killer has no settings here "
                                        "(its sysctls are vm.*)")
        return {}
    return POLICIES[name].settings(given)


@dataclass
class Pending:
    """A victim sent SIGTERM that has not exited yet."""
    pid: int
    sent_us: int
    exit_us: int  # when it exits of the signal
    why: str


class Daemon:
    """The running daemon of a policy; `name` is one of POLICIES."""

    def __init__(self, name: str, settings: dict, now_us: int):
        self.name = name
        self.policy = POLICIES[name]
        self.settings = settings
        self.next_poll_us = now_us
        self.memo: dict = {}  # the policy's timers (Verdict.memo)
        self.pending: list[Pending] = []
        self.psi: dict[str, Psi] = {}  # memory.pressure of the cgroups it manages by pressure

    def tick(self, m, now_us: int, tick_us: int) -> None:
        if "pressure_cgroups" in self.settings:
            self._account_cgroups(m, now_us, tick_us)
        for t in list(self.pending):
            if t.pid not in m.procs:
                self.pending.remove(t)  # gone another way (the kernel's OOM killer, a kill)
            elif now_us >= t.exit_us:
                self.pending.remove(t)
                self._signal(m, t.pid, 15, t.why)
        if now_us >= self.next_poll_us:
            self._poll(m, now_us)

    def _poll(self, m, now_us: int) -> None:
        s = self.settings
        # /proc/pressure/memory as of the last tick accounted (reading it must not move it)
        facts = gather(m, now_us=now_us, pressure=m.psi.show(m.psi.clock_us),
                       group_pressure={path: psi.show(now_us)["full"]["avg10"]
                                       for path, psi in self.psi.items()},
                       groups="pressure_cgroups" in s)
        verdict = self.policy.poll(s, facts, self.memo)
        self.memo = verdict.memo
        if not self.pending:
            self.next_poll_us = now_us + verdict.sleep_us
            if verdict.action is not None:
                self._act(m, verdict.action, now_us)
            return
        self.next_poll_us = now_us + self.policy.term_poll_us(s)
        for t in list(self.pending):
            if verdict.action is not None and verdict.action.signal == 9:
                why, ranking = verdict.action.why, list(verdict.action.ranking)
            elif now_us - t.sent_us >= s["sigterm_timeout_ms"] * 1000:
                why = f"{t.why}; no exit {s['sigterm_timeout_ms'] / 1000:g} s after SIGTERM"
                ranking = []  # its victim was chosen at the SIGTERM
            else:
                continue
            self.pending.remove(t)
            m.log("daemon", t.pid, f"{self.name}: {why}: escalating to SIGKILL",
                  by=self.name, why=why, signal=9, pids=[t.pid], cgroup=None, ranking=ranking)
            self._signal(m, t.pid, 9, why)

    def _act(self, m, action, now_us: int) -> None:
        if action.cgroup is not None:  # cg_kill_recursive: the cgroup and below
            pids = [pid for pid, q in sorted(m.procs.items())
                    if pid != 1 and within(q.cgroup, action.cgroup)]
            what = f"cgroup {action.cgroup} ({len(pids)} processes)"
        else:
            pids = [pid for pid in action.pids if pid in m.procs]
            what = ", ".join(f"{m.procs[pid].comm}[{pid}]" for pid in pids)
        if not pids:
            return
        m.log("daemon", pids[0], f"{self.name}: {action.why}: sending {SIGNAL[action.signal]} "
                                 f"to {what}", by=self.name, why=action.why,
              signal=action.signal, pids=pids, cgroup=action.cgroup, ranking=list(action.ranking))
        for pid in pids:
            if action.signal == 9:
                self._signal(m, pid, 9, action.why)
            else:
                grace = int(self.settings["sigterm_grace_ms"] * 1000)
                self.pending.append(Pending(pid, now_us, now_us + grace, action.why))

    def _signal(self, m, pid: int, sig: int, why: str) -> None:
        st = m.proc_status(pid)
        with m.log.acting(by=self.name, why=why, freed_kb=st["VmRSS"] + st["VmSwap"]):
            m.kill(pid, sig)

    def _account_cgroups(self, m, now_us: int, tick_us: int) -> None:
        """memory.pressure of each managed cgroup: the kernel keeps a psi_group per cgroup, fed
        by the tasks in it and below, by the same rule as the system's (psi.Stalls.account)."""
        for path in m.cgroups():
            if not any(named(p, path) for p in self.settings["pressure_cgroups"]):
                continue
            members = [q for q in m.procs.values() if within(q.cgroup, path)]
            some, full = cgroup_stall(members, m.runners, tick_us)
            self.psi.setdefault(path, Psi()).account(now_us, some, full)

    def describe(self) -> str:
        return f"{self.name} ({', '.join(f'{k}={v!r}' for k, v in self.settings.items())})"

    def to_state(self) -> dict:
        return {"name": self.name, "settings": dict(self.settings),
                "next_poll_us": self.next_poll_us, "memo": copy.deepcopy(self.memo),
                "pending": [[t.pid, t.sent_us, t.exit_us, t.why] for t in self.pending],
                "psi": {path: psi.to_state() for path, psi in self.psi.items()}}

    @classmethod
    def from_state(cls, d, where: str = "daemon") -> Daemon:
        """A daemon from to_state's dict; ValueError saying what is wrong."""
        if type(d) is not dict or set(d) != {"name", "settings", "next_poll_us", "memo",
                                              "pending", "psi"}:
            raise ValueError(f"{where} must be a daemon's state, got {d!r:.60}")
        try:
            settings = policy_settings(d["name"], d["settings"])
        except OSError as e:
            raise ValueError(f"{where}: {e.strerror}") from None
        if d["name"] == "kernel" or type(d["next_poll_us"]) is not int \
                or type(d["memo"]) is not dict or type(d["psi"]) is not dict:
            raise ValueError(f"{where}: a bad policy name, poll time, memo or pressure map")
        daemon = cls(d["name"], settings, d["next_poll_us"])
        daemon.memo = copy.deepcopy(d["memo"])
        for t in d["pending"]:
            if type(t) not in (list, tuple) or len(t) != 4 or type(t[3]) is not str \
                    or not all(type(x) is int for x in t[:3]):
                raise ValueError(f"{where}.pending: {t!r:.60} is not [pid, sent, exit, why]")
            daemon.pending.append(Pending(*t))
        try:
            daemon.psi = {path: Psi.from_state(s) for path, s in d["psi"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{where}.psi: {e}") from None
        return daemon


def cgroup_stall(members, runners, tick_us: int) -> tuple[int, int]:
    """(some, full) µs of a cgroup's tick: `some` the longest memory stall served, `full` the
    shortest when every busy task (running a workload, or stalled) is stalled."""
    busy = [q for q in members if q.stall_us or (q.pid in runners and not runners[q.pid].done)]
    served = [min(q.stall_us, tick_us) if q.stall_kind in MEMSTALL else 0
              for q in busy if q.stall_us]
    some = max(served, default=0)
    full = min(served) if served and len(served) == len(busy) else 0
    return some, full if some else 0

