"""oom_badness / oom_score / oom_score_adj (KERNEL.md §1 oom_badness, §2 proc_oom_score).

1 GiB, no swap: T = totalram + swap = 262144 pages, T // 1000 = 262.
A process that wrote 100 MiB at the fixed address 1 TiB has RssAnon = 25600 pages and
VmPTE = PUD + PMD + 50 PTE tables = 52 pages, so points = 25652.
score = (1000 + C-div(badness * 1000, T)) * 2 // 3.
"""

from __future__ import annotations

import errno

import pytest

from oomtui.engine import SwapDevice

PAGE = 4096
MiB = 1 << 20
TiB = 1 << 40


def cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def expected(points: int, adj: int, T: int) -> tuple[int, int]:
    b = points + adj * (T // 1000)
    return b, (1000 + cdiv(b * 1000, T)) * 2 // 3


@pytest.fixture
def big(m, fixed_map):
    p = m.spawn("big")
    fixed_map(m, p, TiB, 100 * MiB)
    m.touch(p, TiB, 100 * MiB)
    st = m.proc_status(p)
    assert (st["RssAnon"], st["VmPTE"]) == (102400, 208)
    return m, p


def test_cdiv_helper_truncates():
    assert cdiv(-7, 2) == -3 and cdiv(7, 2) == 3 and cdiv(-105348000, 262144) == -401


@pytest.mark.parametrize("adj, badness, score", [
    (0, 25652, 731),        # 25652000/262144 = 97.86 -> 97; 1097*2//3 = 731
    (500, 156652, 1064),    # 25652 + 500*262; 597.58 -> 597; 1597*2//3
    (-500, -105348, 399),   # 25652 - 131000; -401.87 -> -401 (not -402); 599*2//3
    (1000, 287652, 1398),   # 1097.3 -> 1097; 2097*2//3
    (-1, 25390, 730),
])
def test_score_of_100mib_process(big, adj, badness, score):
    m, p = big
    m.set_oom_score_adj(p, adj, caps=("CAP_SYS_RESOURCE",))
    assert expected(25652, adj, 262144) == (badness, score)
    assert m.oom_badness(p) == badness
    assert m.oom_score(p) == score


def test_adj_minus_1000_is_unkillable(big):
    m, p = big
    m.set_oom_score_adj(p, -1000, caps=("CAP_SYS_RESOURCE",))
    assert m.oom_badness(p) is None
    assert m.oom_score(p) == 0


def test_spawn_with_adj_minus_1000(m):
    p = m.spawn("p", oom_score_adj=-1000)
    assert m.oom_badness(p) is None and m.oom_score(p) == 0


def test_init_is_unkillable(m):
    assert m.oom_badness(1) is None
    assert m.oom_score(1) == 0


@pytest.mark.parametrize("adj, badness, score", [
    (0, 0, 666),            # (1000 + 0) * 2 // 3
    (-2, -524, 666),        # -1.999 truncates to -1: 999*2//3 = 666 (floor would give 665)
    (-500, -131000, 334),   # -499.7 -> -499: 501*2//3 = 334 (floor: 333)
    (1000, 262000, 1332),   # 999.45 -> 999: 1999*2//3
])
def test_score_of_empty_process(m, adj, badness, score):
    p = m.spawn("p", oom_score_adj=adj) if adj >= 0 else m.spawn("p")
    if adj < 0:
        m.set_oom_score_adj(p, adj, caps=("CAP_SYS_RESOURCE",))
    assert m.oom_badness(p) == badness      # negative badness is still eligible (not None)
    assert m.oom_score(p) == score


def test_points_include_file_shmem_and_page_tables(m, fixed_map):
    p = m.spawn("p")
    m.write_file(p, "/data/f", 2 * MiB)
    fixed_map(m, p, TiB, 2 * MiB, prot="r", flags="private", file="/data/f")
    fixed_map(m, p, 2 * TiB, 2 * MiB, flags="shared|anonymous")
    fixed_map(m, p, 3 * TiB, 2 * MiB)
    m.touch(p, TiB, 2 * MiB, write=False)      # RssFile 512 pages
    m.touch(p, 2 * TiB, 2 * MiB)               # RssShmem 512 pages
    m.touch(p, 3 * TiB, 1 * MiB)               # RssAnon 256 pages
    st = m.proc_status(p)
    assert (st["RssFile"], st["RssShmem"], st["RssAnon"], st["VmPTE"]) == (2048, 2048, 1024, 36)
    points = 512 + 512 + 256 + 9               # 3 fresh slots x (PUD + PMD + PTE)
    assert m.oom_badness(p) == points
    assert m.oom_score(p) == expected(points, 0, 262144)[1] == 669


def test_shared_cow_pages_count_in_both(m, fixed_map):
    p = m.spawn("p")
    fixed_map(m, p, TiB, 100 * MiB)
    m.touch(p, TiB, 100 * MiB)
    c = m.fork(p)
    assert m.oom_badness(c) == m.oom_badness(p) == 25652
    assert m.oom_score(c) == 731


def test_total_pages_include_swap(machine, fixed_map):
    m = machine(swap=[SwapDevice(size_mib=1024)])
    # T = 262144 + (262144 - 1 swap header page) = 524287, T // 1000 = 524
    p = m.spawn("p")
    fixed_map(m, p, TiB, 100 * MiB)
    m.touch(p, TiB, 100 * MiB)
    assert m.oom_score(p) == expected(25652, 0, 524287)[1] == 698
    m.set_oom_score_adj(p, 300)
    assert m.oom_badness(p) == 25652 + 300 * 524
    assert m.oom_score(p) == 898
    m.set_oom_score_adj(p, -300, caps=("CAP_SYS_RESOURCE",))
    assert m.oom_badness(p) == 25652 - 300 * 524 == -131548
    assert m.oom_score(p) == 500       # -250.9 -> -250 (floor: -251 -> 499)


def test_zones_config_total_pages(machine):
    m = machine(ram_mib=None, zones={"DMA": 3840, "DMA32": 200000, "Normal": 0})
    # T = 203840, T // 1000 = 203
    p = m.spawn("p", oom_score_adj=700)
    assert m.oom_badness(p) == 700 * 203
    assert m.oom_score(p) == expected(700 * 203, 0, 203840)[1]


# ---------------------------------------------------------------- oom_score_adj writes

def adj_of(m, pid):
    return next(x for x in m.processes() if x["pid"] == pid)["oom_score_adj"]


def test_raise_own_adj_without_caps(m):
    p = m.spawn("p")
    m.set_oom_score_adj(p, 800)
    assert adj_of(m, p) == 800
    m.set_oom_score_adj(p, 0)            # back down to the min (0) is allowed
    assert adj_of(m, p) == 0


def test_below_min_needs_cap_sys_resource(m, fails):
    p = m.spawn("p")
    fails(m, errno.EACCES, m.set_oom_score_adj, p, -1)
    root = m.spawn("rootish", uid=0)     # uid 0 without the capability: still EACCES
    fails(m, errno.EACCES, m.set_oom_score_adj, root, -100)
    m.set_oom_score_adj(p, -100, caps=("CAP_SYS_RESOURCE",))
    assert adj_of(m, p) == -100


def test_writer_with_cap_moves_the_min(m, fails):
    p = m.spawn("p")
    m.set_oom_score_adj(p, -300, caps=("CAP_SYS_RESOURCE",))   # min -> -300
    m.set_oom_score_adj(p, -200)                                # above min: fine
    m.set_oom_score_adj(p, -300)                                # == min: fine
    fails(m, errno.EACCES, m.set_oom_score_adj, p, -301)
    m.set_oom_score_adj(p, 500, caps=("CAP_SYS_RESOURCE",))     # min -> 500
    fails(m, errno.EACCES, m.set_oom_score_adj, p, 0)
    m.set_oom_score_adj(p, 600)
    assert adj_of(m, p) == 600


def test_process_with_own_cap_can_lower(m):
    p = m.spawn("p", caps=("CAP_SYS_RESOURCE",))
    m.set_oom_score_adj(p, -1000)        # caps=None: its own capabilities
    assert m.oom_badness(p) is None


def test_adj_range(m, fails):
    p = m.spawn("p")
    fails(m, errno.EINVAL, m.set_oom_score_adj, p, 1001)
    fails(m, errno.EINVAL, m.set_oom_score_adj, p, -1001, caps=("CAP_SYS_RESOURCE",))
    m.set_oom_score_adj(p, 1000)
    assert adj_of(m, p) == 1000


def test_oom_score_views_need_live_pid(m, fails):
    p = m.spawn("p")
    m.exit(p)
    fails(m, errno.ESRCH, m.oom_score, p)
    fails(m, errno.ESRCH, m.oom_badness, p)
    fails(m, errno.ESRCH, m.set_oom_score_adj, p, 10)
