"""Userspace OOM daemons beside the kernel's OOM killer: earlyoom, systemd-oomd and nohang.

A machine runs the kernel's policy alone until set_policy chooses a daemon; the daemon then
polls what the real one reads, at its real interval, and kills before the kernel must (or
not: the kernel still kills when it acts too late).

    settings.py     a policy's settings, each with its default and check; how a SIGTERM's
                    victim leaves (the grace delay)
    facts.py        what a daemon reads at a poll, and the answer (Action, Verdict)
    earlyoom.py, systemd_oomd.py, nohang.py
                    the policies: pure poll(settings, facts, memo) -> Verdict, each citing
                    the file and function of the real daemon it follows
    driver.py       Daemon: runs a policy in Machine.step, acts through Machine.kill, saves
    calls.py        Machine.set_policy / Machine.policy
"""

from __future__ import annotations


def killed_by(event) -> str | None:
    """Who ended the process an event reports killed: "kernel" (its OOM killer), a daemon's
    name, or "user" (a kill() call); None for an event that is not a kill."""
    if event.kind == "oom_kill":
        return "kernel"
    if event.kind == "kill":
        return event.data.get("by", "user")
    return None


def told(event) -> str:
    """An event's message as the app shows it: a kill names the daemon that sent its signal."""
    if event.kind == "kill" and "by" in event.data:
        return f"{event.message} (sent by {event.data['by']})"
    return event.message
