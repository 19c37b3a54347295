"""mlock / mlockall / MAP_LOCKED and the RLIMIT_MEMLOCK, RLIMIT_AS, RLIMIT_DATA limits
(KERNEL.md §3 limits, §9 mlock, prlimit). Default RLIMIT_MEMLOCK = 8 MiB = 2048 pages."""

from __future__ import annotations

import errno


PAGE = 4096
MiB = 1 << 20
GiB = 1 << 30
INF = 2**64 - 1


# ---------------------------------------------------------------- prlimit

def test_prlimit_defaults(m):
    p = m.spawn("p")
    assert m.prlimit(p, "AS") == INF
    assert m.prlimit(p, "DATA") == INF
    assert m.prlimit(p, "MEMLOCK") == 8 * MiB == 8388608


def test_prlimit_set_and_read_back(m):
    p = m.spawn("p")
    m.prlimit(p, "AS", 64 * MiB)
    assert m.prlimit(p, "AS") == 64 * MiB
    m.prlimit(p, "AS", INF)
    assert m.prlimit(p, "AS") == INF
    m.prlimit(p, "MEMLOCK", 0)
    assert m.prlimit(p, "MEMLOCK") == 0
    m.prlimit(p, "MEMLOCK", 8 * MiB)      # back up to the hard limit is allowed
    assert m.prlimit(p, "MEMLOCK") == 8 * MiB


def test_prlimit_soft_above_hard_is_einval(m, fails):
    p = m.spawn("p")
    fails(m, errno.EINVAL, m.prlimit, p, "MEMLOCK", 8 * MiB + PAGE)
    fails(m, errno.EINVAL, m.prlimit, p, "MEMLOCK", INF)
    fails(m, errno.EINVAL, m.prlimit, p, "STACKISH", 1)


def test_prlimit_is_per_process(m):
    p, q = m.spawn("p"), m.spawn("q")
    m.prlimit(p, "AS", 64 * MiB)
    assert m.prlimit(q, "AS") == INF


# ---------------------------------------------------------------- RLIMIT_AS

def test_rlimit_as_boundary(m, fails):
    p = m.spawn("p")
    m.prlimit(p, "AS", 1 * MiB)          # 256 pages; total_vm = 33 (stack)
    # 33 + n > 256 fails -> n = 223 passes, 224 fails
    fails(m, errno.ENOMEM, m.mmap, p, 224 * PAGE)
    m.mmap(p, 223 * PAGE)
    assert m.proc_status(p)["VmSize"] == 1024
    fails(m, errno.ENOMEM, m.mmap, p, PAGE, prot="r")          # any mapping counts
    fails(m, errno.ENOMEM, m.mmap, p, PAGE, flags="private|anonymous|noreserve")


def test_rlimit_as_applies_to_brk_and_mremap(m, fails):
    p = m.spawn("p")
    a = m.mmap(p, 64 * PAGE)
    m.prlimit(p, "AS", 1 * MiB)          # total_vm = 33 + 64 = 97 pages
    b0 = m.brk(p)
    digest = m.state_digest()
    assert m.brk(p, b0 + 160 * PAGE) == b0          # 97 + 160 = 257 > 256: unchanged break
    assert m.state_digest() == digest
    fails(m, errno.ENOMEM, m.sbrk, p, 160 * PAGE)
    assert m.brk(p, b0 + 159 * PAGE) == b0 + 159 * PAGE   # exactly 256
    m.brk(p, b0)
    fails(m, errno.ENOMEM, m.mremap, p, a, 64 * PAGE, 224 * PAGE)   # 33 + 224 = 257
    assert m.mremap(p, a, 64 * PAGE, 223 * PAGE) in range(0, 1 << 47)


def test_rlimit_as_lowered_below_current_size_blocks_growth_only(m, fails):
    p = m.spawn("p")
    a = m.mmap(p, 2 * MiB)
    m.prlimit(p, "AS", 1 * MiB)          # allowed, even though VmSize > limit
    m.touch(p, a, 2 * MiB)               # existing mappings keep working
    fails(m, errno.ENOMEM, m.mmap, p, PAGE)
    m.munmap(p, a, 2 * MiB)
    m.mmap(p, PAGE)


# ---------------------------------------------------------------- RLIMIT_DATA

def test_rlimit_data_counts_private_writable_only(m, fails):
    p = m.spawn("p")
    m.prlimit(p, "DATA", 1 * MiB)        # data_vm = 0 at spawn (stack is not data)
    assert m.proc_status(p)["VmData"] == 0
    m.mmap(p, 1 * MiB)                   # 256 pages: data_vm == limit is fine
    assert m.proc_status(p)["VmData"] == 1024
    fails(m, errno.ENOMEM, m.mmap, p, PAGE)
    m.mmap(p, 1 * MiB, prot="r")                        # not data
    m.mmap(p, 1 * MiB, flags="shared|anonymous")        # not data
    assert m.proc_status(p)["VmData"] == 1024


def test_rlimit_data_limits_brk(m, fails):
    p = m.spawn("p")
    m.prlimit(p, "DATA", 1 * MiB)
    b0 = m.brk(p)
    assert m.brk(p, b0 + 1 * MiB + PAGE) == b0
    assert m.brk(p, b0 + 1 * MiB) == b0 + 1 * MiB
    fails(m, errno.ENOMEM, m.sbrk, p, PAGE)


# ---------------------------------------------------------------- mlock

def test_mlock_faults_in_and_counts(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    mi0 = m.meminfo()
    m.mlock(p, a, 1 * MiB)
    st, d = m.proc_status(p), diff(mi0, m.meminfo())
    assert st["VmLck"] == 1024 and st["RssAnon"] == 1024
    assert d["Mlocked"] == 1024 and d["Unevictable"] == 1024
    assert d["AnonPages"] == 1024
    assert d["Active(anon)"] == 0 and d["Inactive(anon)"] == 0   # unevictable LRU instead
    assert m.touch(p, a, 1 * MiB) == 0


def test_mlock_after_touch_moves_pages_to_unevictable(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    mi0 = m.meminfo()
    m.mlock(p, a, 1 * MiB)
    d = diff(mi0, m.meminfo())
    assert d["Inactive(anon)"] == -1024 and d["Unevictable"] == 1024 and d["Mlocked"] == 1024
    assert d["MemFree"] == 0


def test_munlock_reverses(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    mi0 = m.meminfo()
    m.mlock(p, a, 1 * MiB)
    m.munlock(p, a, 1 * MiB)
    st, d = m.proc_status(p), diff(mi0, m.meminfo())
    assert st["VmLck"] == 0 and st["RssAnon"] == 1024          # pages stay resident
    assert d["Mlocked"] == 0 and d["Unevictable"] == 0
    assert d["Active(anon)"] + d["Inactive(anon)"] == 1024


def test_mlock_partial_range(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.mlock(p, a + 256 * 1024, 256 * 1024)
    st = m.proc_status(p)
    assert st["VmLck"] == 256 and st["RssAnon"] == 256
    assert m.mincore(p, a, 1 * MiB).tolist() == [0] * 64 + [1] * 64 + [0] * 128


def test_mlock_readonly_private_maps_zero_page(m, diff):
    # populate uses a read fault on a read-only private mapping: zero page, nothing mlocked
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, prot="r")
    mi0 = m.meminfo()
    m.mlock(p, a, 1 * MiB)
    d = diff(mi0, m.meminfo())
    assert m.proc_status(p)["VmLck"] == 1024          # locked_vm counts the VMA
    assert m.proc_status(p)["VmRSS"] == 0
    assert d["Mlocked"] == 0 and d["AnonPages"] == 0
    assert m.mincore(p, a, 1 * MiB).tolist() == [1] * 256


def test_map_locked(m, diff):
    p = m.spawn("p")
    mi0 = m.meminfo()
    m.mmap(p, 1 * MiB, flags="private|anonymous|locked")
    st, d = m.proc_status(p), diff(mi0, m.meminfo())
    assert st["VmLck"] == 1024 and st["RssAnon"] == 1024
    assert d["Mlocked"] == 1024 and d["Unevictable"] == 1024


def test_mlock_limit_boundary(m, fails):
    p = m.spawn("p")
    a = m.mmap(p, 9 * MiB)
    m.mlock(p, a, 8 * MiB)                       # 2048 pages == limit: fine
    fails(m, errno.ENOMEM, m.mlock, p, a + 8 * MiB, PAGE)
    assert m.proc_status(p)["VmLck"] == 8192


def test_mlock_relock_same_range_not_double_counted(m):
    p = m.spawn("p")
    a = m.mmap(p, 6 * MiB)
    m.mlock(p, a, 6 * MiB)
    m.mlock(p, a, 6 * MiB)                       # 6 + 6 - 6 already locked = 6 MiB <= 8
    m.mlock(p, a + 4 * MiB, 2 * MiB)
    assert m.proc_status(p)["VmLck"] == 6144


def test_mlock_over_limit_enomem_and_map_locked_eagain(m, fails):
    p = m.spawn("p")
    a = m.mmap(p, 8 * MiB + PAGE)
    fails(m, errno.ENOMEM, m.mlock, p, a, 8 * MiB + PAGE)
    fails(m, errno.EAGAIN, m.mmap, p, 8 * MiB + PAGE, flags="private|anonymous|locked")
    m.mmap(p, 8 * MiB, flags="private|anonymous|locked")
    fails(m, errno.EAGAIN, m.mmap, p, PAGE, flags="private|anonymous|locked")


def test_memlock_zero_is_eperm(m, fails):
    p = m.spawn("p")
    m.prlimit(p, "MEMLOCK", 0)
    a = m.mmap(p, PAGE)
    fails(m, errno.EPERM, m.mlock, p, a, PAGE)
    fails(m, errno.EPERM, m.mmap, p, PAGE, flags="private|anonymous|locked")
    fails(m, errno.EPERM, m.mlockall, p, "current")


def test_cap_ipc_lock_bypasses_memlock(m):
    p = m.spawn("p", caps=("CAP_IPC_LOCK",))
    a = m.mmap(p, 16 * MiB)
    m.mlock(p, a, 16 * MiB)
    m.mmap(p, 16 * MiB, flags="private|anonymous|locked")
    assert m.proc_status(p)["VmLck"] == 32768
    m.prlimit(p, "MEMLOCK", 0)
    m.mlock(p, m.mmap(p, PAGE), PAGE)
    assert m.proc_status(p)["VmLck"] == 32768 + 4


def test_locked_pages_freed_on_munmap(m, diff):
    p = m.spawn("p")
    mi0 = m.meminfo()
    a = m.mmap(p, 1 * MiB, flags="private|anonymous|locked")
    m.munmap(p, a, 1 * MiB)
    d = diff(mi0, m.meminfo())
    assert d["Mlocked"] == 0 and d["Unevictable"] == 0 and d["AnonPages"] == 0
    assert m.proc_status(p)["VmLck"] == 0


def test_mlock_hole_is_enomem(m, fails):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.munmap(p, a, 1 * MiB)
    fails(m, errno.ENOMEM, m.mlock, p, a, 1 * MiB)
    fails(m, errno.ENOMEM, m.munlock, p, a, 1 * MiB)


# ---------------------------------------------------------------- mlockall

def test_mlockall_current_locks_everything_including_stack(m):
    p = m.spawn("p")
    m.mmap(p, 1 * MiB)
    m.mmap(p, 1 * MiB, prot="r")
    m.mlockall(p, "current")
    st = m.proc_status(p)
    # stack 132 + rw 1024 + r 1024 (zero page, no RSS)
    assert st["VmLck"] == 132 + 2048
    assert st["RssAnon"] == 132 + 1024
    m.mmap(p, 1 * MiB)                       # not "future": not locked
    assert m.proc_status(p)["VmLck"] == 132 + 2048


def test_mlockall_future_locks_new_mappings(m):
    p = m.spawn("p")
    m.mmap(p, 1 * MiB)
    m.mlockall(p, "future")
    assert m.proc_status(p)["VmLck"] == 0
    m.mmap(p, 1 * MiB)
    st = m.proc_status(p)
    assert st["VmLck"] == 1024 and st["RssAnon"] == 1024


def test_mlockall_future_respects_memlock(m, fails):
    p = m.spawn("p")
    m.mlockall(p, "current|future")          # VmLck 132
    m.mmap(p, 7 * MiB)                       # 132 + 7168 = 7300 kB
    fails(m, errno.EAGAIN, m.mmap, p, 1 * MiB)   # 7300 + 1024 > 8192


def test_mlockall_current_over_limit_enomem(m, fails):
    p = m.spawn("p")
    m.mmap(p, 8 * MiB)                       # total_vm 8 MiB + 132 kB > 8 MiB
    fails(m, errno.ENOMEM, m.mlockall, p, "current")
    m.mlockall(p, "future")                  # no MCL_CURRENT: no total_vm check


def test_mlockall_bad_flags(m, fails):
    p = m.spawn("p")
    fails(m, errno.EINVAL, m.mlockall, p, "sometimes")
    fails(m, errno.EINVAL, m.mlockall, p, "")
