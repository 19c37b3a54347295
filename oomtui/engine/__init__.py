"""The oomtui engine: a page-level model of Linux memory management. Never imports textual."""

from oomtui.engine.config import MachineConfig, SwapDevice
from oomtui.engine.machine import Event, Machine

__all__ = ["Event", "Machine", "MachineConfig", "SwapDevice"]
