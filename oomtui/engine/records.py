"""The engine's records of processes and files: plain data the Machine keeps, saves
(engine/schema.py) and shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from oomtui.engine.state import PAGE_SHIFT
from oomtui.engine.vma import PAGE, Mm

CAPS = frozenset({"CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_IPC_LOCK", "CAP_SYS_NICE",
                  "CAP_KILL"})
RLIMITS = ("AS", "DATA", "MEMLOCK")


@dataclass
class Process:
    pid: int
    comm: str
    ppid: int
    uid: int
    caps: frozenset
    mm: Mm
    oom_score_adj: int = 0
    oom_score_adj_min: int = 0
    cgroup: str = "/"
    rlimits: dict = field(default_factory=dict)  # name -> [soft, hard], bytes
    kstack: int = -1  # pfn of the kernel stack
    pgd: int = -1  # pfn of the PGD page
    stall_us: int = 0  # stall time still to serve: the process runs again once it is paid
    stall_kind: str = ""  # what it stalls in: "reclaim", "throttled", "swapin" or "dirty"
    oom_victim_tick: int | None = None  # killed by the OOM killer, not yet exited (pending)
    reaped: bool = False  # the OOM reaper freed its memory (MMF_OOM_SKIP)

    def capable(self, cap: str) -> bool:
        return cap in self.caps


@dataclass
class File:
    id: int
    path: str
    size: int  # bytes
    shmem: bool = False  # the object behind a MAP_SHARED|MAP_ANONYMOUS mapping
    charged: int = 0  # pages charged to Committed_AS (shmem_acct_size)

    @property
    def pages(self) -> int:
        return (self.size + PAGE - 1) >> PAGE_SHIFT
