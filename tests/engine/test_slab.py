"""Slab: dentries and inodes that grow with file lookups, per-task objects, the superblock
shrinker and vm.vfs_cache_pressure (KERNEL.md §6 "Slab shrinkers"), vm.drop_caches.

Geometry (/proc/slabinfo of a 6.18 x86_64 machine): dentry 192 B, 21 per 1-page slab;
ext4_inode_cache 1128 B, 14 per 4-page slab (3 per page when SLUB falls back to order 0);
task_struct 5952 B, 5 per 8-page slab; mm_struct 1600 B, 20 per 8 pages; signal_cache
1152 B, 14 per 4 pages; sighand_cache 2112 B, 15 per 8 pages; files_cache 704 B, 23 per 4
pages; pid 192 B, 21 per page. Objects are packed: a cache holds ceil(objects / per slab) slabs.
"""

from __future__ import annotations

import errno

from oomtui.engine import kernels as K
from oomtui.engine import state as S

PAGE, MiB = 4096, 1 << 20
TASK_CACHES = {"task_struct": (5, 8), "mm_struct": (20, 8), "signal_cache": (14, 4),
               "sighand_cache": (15, 8), "files_cache": (23, 4), "pid": (21, 1)}


def slab(m, name):
    return next(s for s in m.slabinfo() if s["name"] == name)


def task_slab_kb(nprocs: int) -> int:
    """SUnreclaim of nprocs processes: every per-task cache packed, in kB."""
    return sum(-(-nprocs // per) * pages * 4 for per, pages in TASK_CACHES.values())


def test_lookups_grow_the_dentry_and_inode_caches_by_their_slab_geometry(m, diff):
    p = m.spawn("find")
    mi0 = m.meminfo()
    assert m.stat_files(p, 2940) == 2940                # 140 dentry slabs, 210 inode slabs
    d = diff(mi0, m.meminfo())
    assert d["SReclaimable"] == 140 * 4 + 210 * 16 == 3920
    assert d["Slab"] == d["KReclaimable"] == 3920 and d["SUnreclaim"] == 0
    assert d["MemFree"] == -3920
    dentry, inode = slab(m, "dentry"), slab(m, "ext4_inode_cache")
    assert (dentry["active_objs"], dentry["num_slabs"], dentry["unused"]) == (2940, 140, 2940)
    assert (inode["active_objs"], inode["num_slabs"], inode["pagesperslab"]) == (2940, 210, 4)
    assert inode["unused"] == 0                         # pinned by their dentries


def test_negative_dentries_have_no_inode(m, diff):
    p = m.spawn("resolver")
    mi0 = m.meminfo()
    assert m.stat_files(p, 2100, negative=True) == 2100
    assert diff(mi0, m.meminfo())["SReclaimable"] == 100 * 4
    assert slab(m, "dentry")["negative"] == 2100 and slab(m, "ext4_inode_cache")["active_objs"] == 0


def test_every_process_has_its_task_objects_until_it_is_reaped(m):
    assert m.meminfo()["SUnreclaim"] == task_slab_kb(1)  # init: one slab of each cache
    pids = [m.spawn(f"w{i}") for i in range(40)]
    assert m.meminfo()["SUnreclaim"] == task_slab_kb(41) == 9 * 32 + 3 * 32 + 3 * 16 + 3 * 32 + 2 * 16 + 2 * 4
    assert {s["name"]: s["active_objs"] for s in m.slabinfo() if not s["reclaimable"]} == \
        dict.fromkeys(TASK_CACHES, 41)
    for pid in pids:
        m.kill(pid)
    assert m.meminfo()["SUnreclaim"] == task_slab_kb(1)


def test_a_file_pins_its_dentry_and_inode(m):
    p = m.spawn("reader")
    m.write_file(p, "/data", 1 * MiB)
    m.read_file(p, "/data", 1 * MiB)                     # the same file: no new objects
    assert slab(m, "dentry")["active_objs"] == slab(m, "ext4_inode_cache")["active_objs"] == 1
    m.sysctl("vm.drop_caches", 2)
    assert slab(m, "dentry")["active_objs"] == slab(m, "ext4_inode_cache")["active_objs"] == 1


def test_do_shrink_slab_scans_freeable_over_priority_in_batches_of_128(m):
    """delta = (freeable >> priority) * 4 / DEFAULT_SEEKS; batches of 128 while a whole batch
    is left; super_cache_scan splits each batch by the dentry/inode counts (+1 each)."""
    p = m.spawn("find")
    m.stat_files(p, 40960)                              # 40960 unused dentries
    k = m.k
    K.shrink_slab(k, 12)                                # delta 20: less than a batch, deferred
    assert m.vmstat()["slabs_scanned"] == 0 and m.rs.state[S.RS_SLAB_DEFERRED] == 20
    K.shrink_slab(k, 8)                                 # (20 >> 8) + 320: two batches, 64 left
    assert m.vmstat()["slabs_scanned"] == 256
    # batch 1: 128 dentries (127 + 1) and 1 inode (0 + 1); batch 2: 128 and 1 again
    dentry, inode = slab(m, "dentry"), slab(m, "ext4_inode_cache")
    assert dentry["active_objs"] == 40960 - 256
    assert inode["active_objs"] == 40960 - 2 and inode["unused"] == 256 - 2
    assert m.rs.state[S.RS_SLAB_DEFERRED] == 20 + 320 - 256


def test_vfs_cache_pressure_scales_what_the_shrinker_counts(machine):
    scanned = {}
    for pressure in (0, 100, 200):
        m = machine(sysctl={"vm.vfs_cache_pressure": pressure})
        m.stat_files(m.spawn("find"), 40960)
        K.shrink_slab(m.k, 6)                           # delta (40960 * pressure/100 >> 6) * 2
        scanned[pressure] = m.vmstat()["slabs_scanned"]
    assert scanned == {0: 0, 100: 1280, 200: 2560}


def test_reclaim_frees_unused_dentries_so_a_walk_bigger_than_ram_completes(machine):
    m = machine(256)
    p = m.spawn("find")
    assert m.stat_files(p, 400_000) == 400_000         # ~500 MiB of dentries and inodes
    mi, vm = m.meminfo(), m.vmstat()
    assert vm["oom_kill"] == 0 and vm["slabs_scanned"] > 0 and vm["allocstall"] > 0
    assert mi["SReclaimable"] < 256 * 1024
    m.step(50)                                          # kswapd balances to high with slab alone
    assert m.vmstat()["pageoutrun"] > 0 and m.vmstat()["pgscan_kswapd"] == 0
    assert not m.kswapd_state()["awake"]


def test_with_vfs_cache_pressure_0_the_caches_are_never_shrunk_and_the_walker_is_killed(machine):
    m = machine(256, sysctl={"vm.vfs_cache_pressure": 0})
    p = m.spawn("find")
    done = m.stat_files(p, 400_000)
    assert done < 400_000 and p not in {q["pid"] for q in m.processes()}
    assert m.vmstat()["oom_kill"] == 1 and m.vmstat()["slabs_scanned"] == 0
    kill = next(e for e in m.events if e.kind == "oom")
    assert "slab_reclaimable:" in kill.data["report"]


def test_drop_caches_frees_what_is_unused_and_clean_only(machine, fails):
    m = machine(sysctl={"vm.dirty_expire_centisecs": 100, "vm.dirty_writeback_centisecs": 50})
    w = m.spawn("writer")
    m.write_file(w, "/dirty", 1 * MiB)
    m.write_file(w, "/clean", 2 * MiB)
    m.stat_files(w, 2940)
    m.step(300)                                         # the periodic writeback cleans both
    m.write_file(w, "/dirty", 1 * MiB)                  # dirty again: kept
    cached = m.meminfo()["Cached"]
    m.sysctl("vm.drop_caches", 1)
    assert m.meminfo()["Cached"] == cached - 2048 and m.meminfo()["Dirty"] == 1024
    assert slab(m, "dentry")["active_objs"] == 2942
    m.sysctl("vm.drop_caches", 2)                       # unused dentries, then their inodes
    assert slab(m, "dentry")["active_objs"] == slab(m, "ext4_inode_cache")["active_objs"] == 2
    assert m.vmstat()["drop_pagecache"] == m.vmstat()["drop_slab"] == 1
    assert [e.message for e in m.events if e.kind == "drop_caches"] == ["drop_caches: 1", "drop_caches: 2"]
    m.sysctl("vm.drop_caches", 4)                       # only the "quietly" bit: nothing at all
    assert len([e for e in m.events if e.kind == "drop_caches"]) == 2
    assert m.vmstat()["drop_pagecache"] == m.vmstat()["drop_slab"] == 1
    fails(m, errno.EINVAL, m.sysctl, "vm.drop_caches", 0)
    fails(m, errno.EINVAL, m.sysctl, "vm.drop_caches", 5)


def test_dropping_a_sparse_file_costs_its_cached_pages_not_its_size(machine):
    """A file with a page at 128 TiB: drop_caches and the VMA view visit only what is cached."""
    m = machine(sysctl={"vm.dirty_expire_centisecs": 100, "vm.dirty_writeback_centisecs": 50})
    w = m.spawn("writer")
    m.write_file(w, "/sparse", 2 * PAGE)
    m.write_file(w, "/sparse", PAGE, offset=2**47)
    m.step(300)
    cached = m.meminfo()["Cached"]
    m.sysctl("vm.drop_caches", 1)
    assert m.meminfo()["Cached"] == cached - 12


def test_stat_files_refuses_bad_arguments(m, fails):
    p = m.spawn("find")
    fails(m, errno.EINVAL, m.stat_files, p, -1)
    fails(m, errno.EINVAL, m.stat_files, p, 1.5)
    fails(m, errno.EINVAL, m.stat_files, p, 10, negative="yes")
    fails(m, errno.ESRCH, m.stat_files, 999, 10)
    fails(m, errno.EINVAL, m.stat_files, p, 2**30)  # minutes of work in one call
    fails(m, errno.EINVAL, m.stat_files, p, (1 << 20) + 1)


def test_oom_report_lists_unreclaimable_slab_when_it_outweighs_the_lru(machine):
    """Idle processes touch nothing (no LRU pages); spawning them until memory runs out ends
    in an OOM whose report dumps the per-task caches (dump_unreclaimable_slab)."""
    m = machine(64)
    while not m.vmstat()["oom_kill"]:
        m.spawn("idle")
    report = next(e for e in m.events if e.kind == "oom").data["report"].splitlines()
    at = report.index("Unreclaimable slab info:")
    assert report[at + 1] == "Name                      Used          Total"
    rows = {line.split()[0]: line for line in report[at + 2:at + 8]}
    assert set(rows) == set(TASK_CACHES)
    used, total = (int(x.removesuffix("KB")) for x in rows["task_struct"].split()[1:])
    assert used <= total < used + 5 * 5952 // 1024 + 1   # at most one slab's room spare
    assert "dentry" not in rows                         # reclaimable caches are not listed
