"""The terms behind the numbers the TUI explains: each candidate's oom_badness terms (KERNEL.md
§1-2), the zone watermarks' (§4) and CommitLimit's (§3), as the engine computes them.

T = 262144 pages (1 GiB, no swap), T // 1000 = 262: adj moves badness by adj * 262 pages.
"""

from __future__ import annotations

from oomtui.engine import SwapDevice
from oomtui.engine.oom import BadnessTerms, Candidate, badness_terms, out_of_memory

T = 262144
MiB = 1 << 20


def proc(pid, anon=0, **kw) -> Candidate:
    base = dict(comm=f"p{pid}", uid=1000, mm_id=pid, rss_anon=anon, rss_file=0, rss_shmem=0,
                swapents=0, pgtables=0, total_vm=anon + 100, adj=0, memcg="/")
    return Candidate(pid=pid, **base | kw)


def test_badness_terms_are_the_report_rows_with_every_term_of_their_points():
    cands = [proc(1, 5000, is_init=True), proc(10, 300, rss_file=20, swapents=7, pgtables=3),
             proc(11, 900, adj=-1000), proc(12, 100, adj=500), proc(13, 50, mm_oom_skip=True)]
    decision = out_of_memory(cands, totalpages=T, current=None)
    assert decision.victim == 12
    assert badness_terms(cands, decision, T) == [   # init is left out, as in dump_tasks
        BadnessTerms(10, "p10", rss=320, swapents=7, pgtables=3, adj=0, adj_term=0, points=330,
                     unkillable="", victim=False),
        BadnessTerms(11, "p11", rss=900, swapents=0, pgtables=0, adj=-1000, adj_term=-262000,
                     points=None, unkillable="oom_score_adj -1000", victim=False),
        # 100 + 500 * 262 = 131100: the adj term beats 330 pages of memory
        BadnessTerms(12, "p12", rss=100, swapents=0, pgtables=0, adj=500, adj_term=131000,
                     points=131100, unkillable="", victim=True),
        BadnessTerms(13, "p13", rss=50, swapents=0, pgtables=0, adj=0, adj_term=0, points=None,
                     unkillable="MMF_OOM_SKIP (reaped)", victim=False),
    ]


def test_a_memcg_oom_lists_only_its_own_tasks():
    cands = [proc(1, 5000, is_init=True), proc(10, 300), proc(11, 200, memcg="/a")]
    decision = out_of_memory(cands, totalpages=1000, current=None, memcg="/a")
    assert [(t.pid, t.points, t.victim) for t in badness_terms(cands, decision, 1000)] == [
        (11, 200, True)]


def test_the_oom_event_carries_its_candidates_as_plain_data(machine):
    m = machine(ram_mib=64)             # T = 16384, T // 1000 = 16
    db = m.spawn("db", oom_score_adj=-500)
    hog = m.spawn("hog")
    a = m.mmap(db, 8 * MiB)
    m.touch(db, a, 8 * MiB)
    x = m.mmap(hog, 60 * MiB)
    m.touch(hog, x, 60 * MiB)
    oom = next(e for e in m.events if e.kind == "oom")
    assert oom.data["totalpages"] == 16384
    rows = {r["pid"]: r for r in oom.data["candidates"]}
    assert set(rows) == {db, hog} and rows[hog]["victim"] and not rows[db]["victim"]
    assert rows[db]["adj"] == -500 and rows[db]["adj_term"] == -500 * 16
    for pid, r in rows.items():
        assert r["points"] == oom.data["points"][pid] == (
            r["rss"] + r["swapents"] + r["pgtables"] + r["adj_term"])
    assert rows[db]["rss"] == 8 * 256 and rows[db]["unkillable"] == ""


def test_watermark_terms_are_the_ones_that_set_the_watermarks(machine):
    m = machine(ram_mib=1024)
    zi, terms = m.zoneinfo(), m.watermark_terms()
    for name, t in terms.items():
        assert (t["min"], t["low"], t["high"]) == (zi[name]["min"], zi[name]["low"],
                                                   zi[name]["high"])
        assert t["managed"] == zi[name]["managed"]
    t = terms["DMA32"]
    mfk = m.sysctl("vm.min_free_kbytes")
    assert t["lowmem"] == sum(z["managed"] for n, z in zi.items() if n != "Movable")
    assert t["tmp"] == t["min"] == mfk // 4 * t["managed"] // t["lowmem"]
    assert t["delta"] == max(t["tmp"] // 4, t["managed"] * 10 // 10000)


def test_commit_limit_terms(machine):
    """1 GiB = 262144 pages, ratio 50, 512 MiB swap = 131071 pages (one is the header)."""
    m = machine(ram_mib=1024, swap=[SwapDevice(size_mib=512)])
    assert m.commit_limit_terms() == {"mode": 0, "ratio": 50, "kbytes": 0, "totalram": 262144,
                                      "hugetlb": 0, "swap": 131071,
                                      "limit": 262144 * 50 // 100 + 131071}
    assert m.meminfo()["CommitLimit"] == m.commit_limit_terms()["limit"] * 4
    m.sysctl("vm.overcommit_kbytes", 100000)
    assert m.commit_limit_terms()["limit"] == 100000 // 4 + 131071
    assert m.KSWAPD_MAX_FAILURES == 16                 # MAX_RECLAIM_RETRIES
