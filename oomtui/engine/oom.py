"""The OOM killer's arithmetic (mm/oom_kill.c, fs/proc/base.c; KERNEL.md §1-§2)."""

from __future__ import annotations

OOM_SCORE_ADJ_MIN = -1000


def c_div(a: int, b: int) -> int:
    """C integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def oom_badness(*, rss: int, swap: int, pgtables: int, adj: int, unkillable: bool,
                totalpages: int) -> int | None:
    """oom_badness: pages charged to the task plus adj per mille of totalpages; None = LONG_MIN."""
    if unkillable or adj == OOM_SCORE_ADJ_MIN:
        return None
    points = rss + swap + pgtables
    return points + adj * (totalpages // 1000)  # the division happens first


def oom_score(*, totalpages: int, **terms) -> int:
    """proc_oom_score: badness scaled into 0..2000 (0 for unkillable tasks)."""
    badness = oom_badness(totalpages=totalpages, **terms)
    if badness is None:
        return 0
    return c_div((1000 + c_div(badness * 1000, totalpages)) * 2, 3)
