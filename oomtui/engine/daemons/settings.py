"""A policy's settings: each with its default and its check, declared once per policy, so one
table gives the defaults, validates a scenario's [policy] table or a set_policy call, and
documents the thresholds. A bad value is OSError(EINVAL) naming the policy and the setting."""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Setting:
    default: object
    check: Callable  # (where, value) -> the value as the policy uses it, or OSError
    doc: str


def fail(where: str, message: str) -> OSError:
    return OSError(errno.EINVAL, f"{where}: {message}")


def number(lo: float, hi: float):
    """An int or float from lo to hi (a percentage, a duration)."""
    def check(where: str, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise fail(where, f"must be a number from {lo:g} to {hi:g}, got {value!r}")
        return value
    return check


def regex(where: str, value) -> str:
    """A regular expression matched against comm ("" matches nothing)."""
    if not isinstance(value, str):
        raise fail(where, f"must be a regular expression (a string), got {value!r}")
    try:
        re.compile(value)
    except re.error as e:
        raise fail(where, f"is not a valid regular expression: {e}") from None
    return value


def flag(where: str, value) -> bool:
    if not isinstance(value, bool):
        raise fail(where, f"must be true or false, got {value!r}")
    return value


def cgroups(where: str, value) -> tuple:
    """Cgroup paths; "/x/*" names every child of /x ("/*": every top-level cgroup)."""
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(p, str) and p.startswith("/") for p in value):
        raise fail(where, f"must be a list of cgroup paths like '/' or '/*', got {value!r}")
    return tuple(value)


def badness_rules(where: str, value) -> tuple:
    """[[adjustment, regex], ...]: nohang's @BADNESS_ADJ_RE_NAME lines."""
    if not isinstance(value, (list, tuple)):
        raise fail(where, f"must be a list of [adjustment, regex] pairs, got {value!r}")
    rules = []
    for i, rule in enumerate(value):
        if not isinstance(rule, (list, tuple)) or len(rule) != 2:
            raise fail(f"{where}[{i}]", f"must be an [adjustment, regex] pair, got {rule!r}")
        adj = rule[0]
        if isinstance(adj, bool) or not isinstance(adj, int) or not -1000 <= adj <= 1000:
            raise fail(f"{where}[{i}]",
                       f"adjustment must be an int from -1000 to 1000, got {adj!r}")
        rules.append((adj, regex(f"{where}[{i}]", rule[1])))
    return tuple(rules)


# How the victim of a SIGTERM leaves, the same for every daemon.
COMMON = {
    # A process with a SIGTERM handler (a database flushing, a browser saving its session) runs
    # on for a while before it exits; one second is a middle value for such a cleanup. The
    # victim keeps running its workload meanwhile: a daemon cannot tell cleanup from a hang.
    "sigterm_grace_ms": Setting(1000, number(0, 60_000),
                                "how long a SIGTERMed victim runs on before it exits"),
    # earlyoom's kill_wait waits 100 × 100 ms; nohang's max_soft_exit_time = 10 (nohang.conf)
    "sigterm_timeout_ms": Setting(10_000, number(100, 600_000),
                                  "how long the daemon waits for it before sending SIGKILL"),
}


def resolve(policy: str, spec: Mapping[str, Setting], given) -> dict:
    """The settings of `policy`: the defaults, overridden by `given` (each checked)."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise fail(policy, f"settings must be a table, got {type(given).__name__}")
    unknown = [k for k in given if k not in spec]
    if unknown:
        raise fail(policy, f"unknown setting {unknown[0]!r}: use {', '.join(spec)}")
    return {k: s.check(f"{policy}: {k}", given[k]) if k in given else s.default
            for k, s in spec.items()}
