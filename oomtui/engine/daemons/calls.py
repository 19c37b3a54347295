"""Machine.set_policy and Machine.policy: who acts on low memory beside the kernel."""

from __future__ import annotations

from oomtui.engine.daemons.driver import Daemon, policy_settings
from oomtui.engine.inputs import recorded


class PolicyCalls:
    """The calls of a Machine that choose and show its OOM policy."""

    daemon: Daemon | None = None
    """The userspace OOM daemon running beside the kernel; None: the kernel alone."""

    @recorded
    def set_policy(self, name: str, settings: dict | None = None) -> None:
        """Choose the OOM policy: "kernel" (its OOM killer alone), or a daemon beside it,
        "earlyoom", "systemd-oomd" or "nohang", with `settings` overriding its stock defaults
        (engine/daemons/ documents them). The daemon starts afresh at this tick."""
        self._check_alive()
        chosen = policy_settings(name, settings)
        now_us = self.tick * self.config.tick_ms * 1000
        self.daemon = None if name == "kernel" else Daemon(name, chosen, now_us)
        said = "the kernel's OOM killer alone" if self.daemon is None else self.daemon.describe()
        self.log("policy", 0, f"OOM policy: {said}", policy=name, settings=chosen)

    def policy(self) -> tuple[str, dict]:
        """(the OOM policy's name, its settings)."""
        if self.daemon is None:
            return "kernel", {}
        return self.daemon.name, dict(self.daemon.settings)
