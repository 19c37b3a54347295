"""The /proc-style views: meminfo, proc_status, zoneinfo, vmstat (KERNEL.md §10, §4)."""

from __future__ import annotations

import pytest

from oomtui.engine import SwapDevice

PAGE = 4096
MiB = 1 << 20

ORDER = ["MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active",
         "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)",
         "Unevictable", "Mlocked", "SwapTotal", "SwapFree", "Dirty", "Writeback", "AnonPages",
         "Mapped", "Shmem", "KReclaimable", "Slab", "SReclaimable", "SUnreclaim", "KernelStack",
         "PageTables", "CommitLimit", "Committed_AS"]

STATUS_KEYS = ["Name", "State", "Pid", "PPid", "VmPeak", "VmSize", "VmLck", "VmHWM", "VmRSS",
               "RssAnon", "RssFile", "RssShmem", "VmData", "VmStk", "VmPTE", "VmSwap"]

ZONES = ["DMA", "DMA32", "Normal", "Movable", "Device"]


def busy(m):
    """A machine state with anon, zero-page, shmem, file, mlocked, CoW and lazy-free memory."""
    p = m.spawn("p")
    a = m.mmap(p, 8 * MiB)
    m.touch(p, a, 4 * MiB)                              # 1024 anon pages
    m.touch(p, a + 4 * MiB, 2 * MiB, write=False)       # zero page only
    s = m.mmap(p, 2 * MiB, flags="shared|anonymous")
    m.touch(p, s, 1 * MiB)                              # 256 shmem pages
    m.write_file(p, "/data/f", 3 * MiB)                 # 768 dirty page-cache pages
    f = m.mmap(p, 3 * MiB, prot="r", flags="private", file="/data/f")
    m.touch(p, f, 2 * MiB, write=False)                 # 512 of them mapped
    m.mmap(p, 1 * MiB, flags="private|anonymous|locked")  # 256 mlocked anon pages
    c = m.fork(p)
    m.touch(c, a, 1 * MiB)                              # 256 CoW copies
    b = m.mmap(p, 1 * MiB)                              # after the fork: p's alone
    m.touch(p, b, 1 * MiB)
    m.madvise(p, b, 1 * MiB, "free")                    # 256 lazy-free pages
    return p, c


# ---------------------------------------------------------------- meminfo

def test_meminfo_key_order(m):
    keys = list(m.meminfo())
    positions = [keys.index(k) for k in ORDER]          # all present ...
    assert positions == sorted(positions)               # ... in /proc/meminfo order
    assert keys[0] == "MemTotal"


def test_meminfo_values_are_nonnegative_ints(m):
    busy(m)
    for k, v in m.meminfo().items():
        assert isinstance(v, int) and not isinstance(v, bool), k
        assert v >= 0, k


@pytest.mark.parametrize("ram_mib", [128, 1024, 4096])
def test_memtotal(machine, ram_mib):
    assert machine(ram_mib=ram_mib).meminfo()["MemTotal"] == ram_mib * 1024


def test_swap_totals(machine):
    m = machine(swap=[SwapDevice(size_mib=256), SwapDevice(size_mib=64)])
    mi = m.meminfo()
    assert mi["SwapTotal"] == mi["SwapFree"] == 320 * 1024 - 2 * 4   # a header page each
    assert mi["SwapCached"] == 0


def test_identities_hold_on_a_busy_machine(m):
    busy(m)
    mi = m.meminfo()
    assert mi["Active"] == mi["Active(anon)"] + mi["Active(file)"]
    assert mi["Inactive"] == mi["Inactive(anon)"] + mi["Inactive(file)"]
    assert mi["Slab"] == mi["SReclaimable"] + mi["SUnreclaim"]
    assert mi["KReclaimable"] >= mi["SReclaimable"]
    assert mi["Unevictable"] >= mi["Mlocked"] == 1024
    assert mi["Cached"] >= mi["Shmem"] == 1024
    assert mi["KernelStack"] == 16 * len(m.processes())
    assert mi["PageTables"] == sum(m.proc_status(x["pid"])["VmPTE"] + 4 for x in m.processes())
    assert mi["Dirty"] == 3072                                   # only write_file dirtied


def test_busy_machine_numbers(m, diff):
    mi0 = m.meminfo()
    p, c = busy(m)
    d = diff(mi0, m.meminfo())
    # anon: 4096 written + 1024 locked + 1024 CoW copies + 1024 lazy-free (still AnonPages)
    assert d["AnonPages"] == 7168
    assert d["Shmem"] == 1024
    assert d["Cached"] == 3072 + 1024
    assert d["Mapped"] == 2048 + 1024        # counted per page, however many processes map it
    assert d["Mlocked"] == 1024 and d["Unevictable"] == 1024
    assert d["Dirty"] == 3072
    # file LRU: 3072 page cache + 1024 lazy-free; anon LRU: 4096 + 1024 CoW + 1024 shmem
    assert d["Active(file)"] + d["Inactive(file)"] == 4096
    assert d["Active(anon)"] + d["Inactive(anon)"] == 6144
    # MemFree: all of the above pages plus 2 kernel stacks, 2 PGDs + page tables (and slab,
    # should the engine model any)
    assert d["KernelStack"] == 32
    assert d["MemFree"] == -(7168 + 1024 + 3072 + 32 + d["PageTables"] + d["Slab"])
    sp = m.proc_status(p)
    assert (sp["RssAnon"], sp["RssFile"], sp["RssShmem"], sp["VmLck"]) == (6144, 2048, 1024, 1024)
    sc = m.proc_status(c)
    assert sc["RssAnon"] == 5120 and sc["VmLck"] == 0


def test_memavailable_formula(m):
    """KERNEL.md §10 si_mem_available, from this machine's own zoneinfo."""
    for step in range(3):
        if step == 1:
            busy(m)
        if step == 2:
            p = m.spawn("reader")
            m.write_file(p, "/data/big", 200 * MiB)
        mi, zi = m.meminfo(), m.zoneinfo()
        free = mi["MemFree"] // 4
        totalreserve = sum(min(z["managed"], z["high"] + max(z["protection"][i:]))
                           for i, z in enumerate(zi[n] for n in ZONES))
        wmark_low = sum(zi[n]["low"] for n in ZONES)
        file_lru = (mi["Active(file)"] + mi["Inactive(file)"]) // 4
        kreclaim = mi["KReclaimable"] // 4
        avail = free - totalreserve
        avail += file_lru - min(file_lru // 2, wmark_low)
        avail += kreclaim - min(kreclaim // 2, wmark_low)
        assert mi["MemAvailable"] == max(avail, 0) * 4, step


def test_commit_limit_and_committed_consistent(m):
    busy(m)
    mi = m.meminfo()
    assert mi["CommitLimit"] == 524288
    # init 132; p: stack 132 + 8 MiB rw + 2 MiB shmem + 1 MiB locked + 1 MiB (b);
    # child: stack + 8 MiB + 1 MiB locked again (shmem is not VM_ACCOUNT; the 3 MiB file
    # mapping is read-only: never charged)
    assert mi["Committed_AS"] == 132 + (132 + 8192 + 2048 + 1024 + 1024) + (132 + 8192 + 1024)


# ---------------------------------------------------------------- proc_status

def test_proc_status_keys_and_types(m):
    p = m.spawn("p")
    st = m.proc_status(p)
    keys = list(st)
    positions = [keys.index(k) for k in STATUS_KEYS]
    assert positions == sorted(positions)
    for k in STATUS_KEYS:
        if k in ("Name", "State"):
            assert isinstance(st[k], str)
        else:
            assert isinstance(st[k], int) and st[k] >= 0, k


def test_proc_status_rss_identity_busy(m):
    p, c = busy(m)
    for pid in (1, p, c):
        st = m.proc_status(pid)
        assert st["VmRSS"] == st["RssAnon"] + st["RssFile"] + st["RssShmem"]
        assert st["VmHWM"] >= st["VmRSS"] and st["VmPeak"] >= st["VmSize"]


# ---------------------------------------------------------------- zoneinfo / vmstat

def test_zoneinfo_shape(m):
    zi = m.zoneinfo()
    assert list(zi) == ZONES
    for name, z in zi.items():
        for k in ("managed", "free", "min", "low", "high", "promo"):
            assert isinstance(z[k], int) and z[k] >= 0, (name, k)
        assert len(tuple(z["protection"])) == 5
        assert z["min"] <= z["low"] <= z["high"] <= z["promo"]
        assert z["free"] <= z["managed"]


@pytest.mark.parametrize("ram_mib, managed", [
    (1024, (3840, 258304, 0)),            # 262144 - 3840
    (4096, (3840, 1044480, 256)),         # 1048576 - 3840 - 1044480
    (8192, (3840, 1044480, 1048832)),
])
def test_zone_sizes_from_ram(machine, ram_mib, managed):
    zi = machine(ram_mib=ram_mib).zoneinfo()
    assert (zi["DMA"]["managed"], zi["DMA32"]["managed"], zi["Normal"]["managed"]) == managed
    assert zi["Movable"]["managed"] == 0 and zi["Device"]["managed"] == 0


def test_free_pages_agree_everywhere(m):
    busy(m)
    mi, zi, vs = m.meminfo(), m.zoneinfo(), m.vmstat()
    assert sum(z["free"] for z in zi.values()) * 4 == mi["MemFree"]
    assert vs["nr_free_pages"] * 4 == mi["MemFree"]


def test_vmstat_counts_faults(m):
    p = m.spawn("p")
    vs0 = m.vmstat()
    n = m.touch(p, m.mmap(p, 1 * MiB), 1 * MiB)
    vs = m.vmstat()
    assert n == 256 and vs["pgfault"] - vs0["pgfault"] == 256
    assert vs["pgmajfault"] == vs0["pgmajfault"]


def test_views_do_not_change_state(m):
    p, c = busy(m)
    d0 = m.state_digest()
    m.meminfo(), m.zoneinfo(), m.vmstat(), m.processes(), m.proc_status(p)
    m.oom_score(p), m.oom_badness(c), m.prlimit(p, "AS"), m.brk(p)
    m.sysctl("vm.overcommit_memory")
    m.kill(p, 0)
    assert m.state_digest() == d0
