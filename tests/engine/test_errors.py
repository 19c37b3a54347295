"""Every bad call raises OSError with the kernel's errno, says why, and changes nothing.

Each case runs against the same prepared machine: p (pid 2) with a 1 MiB rw anon mapping A at
1 TiB (touched), a 1 MiB rw private file mapping F of /data/f at 1 TiB + 2 MiB, a 1 MiB shared
anon mapping S at 2 TiB, a 1 MiB VM_LOCKED mapping L at 3 TiB; init is pid 1.
p's VmSize = 132 + 4 * 1024 kB = 1057 pages; data_vm = A + F + L = 768 pages. The `fails` fixture compares
state_digest() before and after.
"""

from __future__ import annotations

import errno

import numpy as np
import pytest

PAGE = 4096
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
TASK_SIZE = (1 << 47) - PAGE
HOLE = 6 * TiB

A, S, L, F = TiB, 2 * TiB, 3 * TiB, TiB + 2 * MiB   # F sits 1 MiB above A's end


@pytest.fixture
def prepared(m, fixed_map):
    p = m.spawn("p")
    assert p == 2
    fixed_map(m, p, A, 1 * MiB)
    m.touch(p, A, 1 * MiB)
    fixed_map(m, p, S, 1 * MiB, flags="shared|anonymous")
    fixed_map(m, p, L, 1 * MiB, flags="private|anonymous|locked")
    m.write_file(p, "/data/f", 1 * MiB)
    fixed_map(m, p, F, 1 * MiB, prot="rw", flags="private", file="/data/f")
    return m


CASES = [
    # --- processes
    ("spawn adj > 1000", errno.EINVAL, lambda m: m.spawn("x", oom_score_adj=1001)),
    ("spawn adj < -1000", errno.EINVAL, lambda m: m.spawn("x", oom_score_adj=-1001)),
    ("spawn unknown cap", errno.EINVAL, lambda m: m.spawn("x", caps=("CAP_TELEPORT",))),
    ("fork unknown pid", errno.ESRCH, lambda m: m.fork(99)),
    ("exit unknown pid", errno.ESRCH, lambda m: m.exit(99)),
    ("exit init", errno.EPERM, lambda m: m.exit(1)),
    ("kill init", errno.EPERM, lambda m: m.kill(1)),
    ("kill unknown pid", errno.ESRCH, lambda m: m.kill(99)),
    ("kill signal 1", errno.EINVAL, lambda m: m.kill(2, 1)),
    ("kill signal 64", errno.EINVAL, lambda m: m.kill(2, 64)),
    # --- mmap
    ("mmap length 0", errno.EINVAL, lambda m: m.mmap(2, 0)),
    ("mmap 1 EiB", errno.ENOMEM, lambda m: m.mmap(2, 1 << 60)),
    ("mmap PAGE_ALIGN overflow", errno.ENOMEM, lambda m: m.mmap(2, 2**64 - 1)),
    ("mmap > TASK_SIZE", errno.ENOMEM, lambda m: m.mmap(2, TASK_SIZE + PAGE)),
    ("mmap fixed unaligned", errno.EINVAL,
     lambda m: m.mmap(2, PAGE, flags="private|anonymous|fixed", addr=HOLE + 1)),
    ("mmap fixed without addr", errno.EINVAL,
     lambda m: m.mmap(2, PAGE, flags="private|anonymous|fixed")),
    ("mmap bad prot", errno.EINVAL, lambda m: m.mmap(2, PAGE, prot="rwz")),
    ("mmap bad flag", errno.EINVAL, lambda m: m.mmap(2, PAGE, flags="private|anonymous|huge")),
    ("mmap private and shared", errno.EINVAL,
     lambda m: m.mmap(2, PAGE, flags="private|shared|anonymous")),
    ("mmap neither private nor shared", errno.EINVAL, lambda m: m.mmap(2, PAGE, flags="anonymous")),
    ("mmap no anon no file", errno.EBADF, lambda m: m.mmap(2, PAGE, flags="private")),
    ("mmap missing file", errno.ENOENT,
     lambda m: m.mmap(2, PAGE, prot="r", flags="private", file="/data/missing")),
    ("mmap unaligned file offset", errno.EINVAL,
     lambda m: m.mmap(2, PAGE, prot="r", flags="private", file="/data/f", offset=100)),
    ("mmap fixed past TASK_SIZE", errno.ENOMEM,
     lambda m: m.mmap(2, 2 * MiB, flags="private|anonymous|fixed", addr=TASK_SIZE - MiB)),
    ("mmap mode-0 size check", errno.ENOMEM, lambda m: m.mmap(2, 262145 * PAGE)),
    ("mmap locked over RLIMIT_MEMLOCK", errno.EAGAIN,
     lambda m: m.mmap(2, 8 * MiB, flags="private|anonymous|locked")),   # 1 MiB locked already
    # --- munmap
    ("munmap unaligned", errno.EINVAL, lambda m: m.munmap(2, A + 1, PAGE)),
    ("munmap length 0", errno.EINVAL, lambda m: m.munmap(2, A, 0)),
    # --- mremap
    ("mremap unaligned", errno.EINVAL, lambda m: m.mremap(2, A + 1, PAGE, 2 * PAGE)),
    ("mremap new_len 0", errno.EINVAL, lambda m: m.mremap(2, A, PAGE, 0)),
    ("mremap beyond vma", errno.EFAULT, lambda m: m.mremap(2, A, 2 * MiB, 3 * MiB)),
    ("mremap hole", errno.EFAULT, lambda m: m.mremap(2, HOLE, PAGE, 2 * PAGE)),
    ("mremap no room, no move", errno.ENOMEM,              # F is in the way
     lambda m: m.mremap(2, A, 1 * MiB, 3 * MiB, may_move=False)),
    # --- mprotect
    ("mprotect unaligned", errno.EINVAL, lambda m: m.mprotect(2, A + 1, PAGE, "r")),
    ("mprotect bad prot", errno.EINVAL, lambda m: m.mprotect(2, A, PAGE, "q")),
    ("mprotect hole", errno.ENOMEM, lambda m: m.mprotect(2, HOLE, PAGE, "r")),
    # --- madvise
    ("madvise bad advice", errno.EINVAL, lambda m: m.madvise(2, A, PAGE, "forget")),
    ("madvise unaligned", errno.EINVAL, lambda m: m.madvise(2, A + 1, PAGE, "dontneed")),
    ("madvise hole", errno.ENOMEM, lambda m: m.madvise(2, HOLE, PAGE, "dontneed")),
    ("madvise dontneed locked", errno.EINVAL, lambda m: m.madvise(2, L, PAGE, "dontneed")),
    ("madvise free locked", errno.EINVAL, lambda m: m.madvise(2, L, PAGE, "free")),
    ("madvise cold locked", errno.EINVAL, lambda m: m.madvise(2, L, PAGE, "cold")),
    ("madvise pageout locked", errno.EINVAL, lambda m: m.madvise(2, L, PAGE, "pageout")),
    ("madvise free shared", errno.EINVAL, lambda m: m.madvise(2, S, PAGE, "free")),
    ("madvise free file", errno.EINVAL, lambda m: m.madvise(2, F, PAGE, "free")),
    # --- mlock
    ("mlock hole", errno.ENOMEM, lambda m: m.mlock(2, HOLE, PAGE)),
    ("munlock hole", errno.ENOMEM, lambda m: m.munlock(2, HOLE, PAGE)),
    ("mlockall bad flags", errno.EINVAL, lambda m: m.mlockall(2, "always")),
    # --- mincore
    ("mincore unaligned", errno.EINVAL, lambda m: m.mincore(2, A + 8, PAGE)),
    ("mincore hole", errno.ENOMEM, lambda m: m.mincore(2, HOLE, PAGE)),
    ("mincore past vma", errno.ENOMEM, lambda m: m.mincore(2, A, 2 * MiB)),
    # --- brk / limits
    ("prlimit bad resource", errno.EINVAL, lambda m: m.prlimit(2, "NOFILE", 10)),
    ("prlimit soft > hard", errno.EINVAL, lambda m: m.prlimit(2, "MEMLOCK", 16 * MiB)),
    # --- files
    ("read missing file", errno.ENOENT, lambda m: m.read_file(2, "/data/missing", PAGE)),
    # --- oom_score_adj
    ("adj 1001", errno.EINVAL, lambda m: m.set_oom_score_adj(2, 1001)),
    ("adj -1001", errno.EINVAL,
     lambda m: m.set_oom_score_adj(2, -1001, caps=("CAP_SYS_RESOURCE",))),
    ("adj below min", errno.EACCES, lambda m: m.set_oom_score_adj(2, -1)),
    ("adj below min as uid-0 writer without cap", errno.EACCES,
     lambda m: m.set_oom_score_adj(2, -500, caps=())),
    # --- sysctl
    ("sysctl unknown read", errno.ENOENT, lambda m: m.sysctl("vm.no_such_knob")),
    ("sysctl unknown write", errno.ENOENT, lambda m: m.sysctl("vm.no_such_knob", 1)),
    ("overcommit_memory 3", errno.EINVAL, lambda m: m.sysctl("vm.overcommit_memory", 3)),
    ("overcommit_memory -1", errno.EINVAL, lambda m: m.sysctl("vm.overcommit_memory", -1)),
    ("swappiness 201", errno.EINVAL, lambda m: m.sysctl("vm.swappiness", 201)),
    ("watermark_scale_factor 0", errno.EINVAL, lambda m: m.sysctl("vm.watermark_scale_factor", 0)),
    ("watermark_scale_factor 3001", errno.EINVAL,
     lambda m: m.sysctl("vm.watermark_scale_factor", 3001)),
    ("min_free_kbytes -1", errno.EINVAL, lambda m: m.sysctl("vm.min_free_kbytes", -1)),
    ("sysctl list name read", errno.ENOENT, lambda m: m.sysctl(["vm.swappiness"])),
    ("sysctl list name write", errno.ENOENT, lambda m: m.sysctl(["vm.swappiness"], 1)),
    ("mincore 64 TiB unmapped", errno.ENOMEM, lambda m: m.mincore(2, S, 1 << 46)),
    ("dirty_bytes 0", errno.EINVAL, lambda m: m.sysctl("vm.dirty_bytes", 0)),
    ("dirty_bytes 2^44", errno.ERANGE, lambda m: m.sysctl("vm.dirty_bytes", 2**44)),
    # --- capabilities of any shape but a name or a flat list of names
    ("spawn caps int", errno.EINVAL, lambda m: m.spawn("x", caps=7)),
    ("spawn caps nested", errno.EINVAL, lambda m: m.spawn("x", caps=[["CAP_KILL"]])),
    ("adj caps int", errno.EINVAL, lambda m: m.set_oom_score_adj(2, -5, caps=7)),
    ("adj caps nested", errno.EINVAL,
     lambda m: m.set_oom_score_adj(2, -5, caps=["CAP_SYS_RESOURCE", ["CAP_KILL"]])),
    ("madvise advice array", errno.EINVAL, lambda m: m.madvise(2, A, PAGE, np.array([1]))),
    # --- views
    ("page_states addr tuple", errno.EINVAL, lambda m: m.page_states(2, (A,), MiB, 4)),
    ("page_states length array", errno.EINVAL, lambda m: m.page_states(2, A, np.array([MiB]), 4)),
    ("page_states buckets 10^30", errno.EINVAL, lambda m: m.page_states(2, A, MiB, 10**30)),
    ("page_states past TASK_SIZE", errno.EINVAL, lambda m: m.page_states(2, A, TASK_SIZE, 4)),
    ("frame_grid unknown zone", errno.EINVAL, lambda m: m.frame_grid({"HighMem": 8})),
    ("frame_grid negative", errno.EINVAL, lambda m: m.frame_grid({"Normal": -1})),
    ("frame_grid not a map", errno.EINVAL, lambda m: m.frame_grid(["Normal"])),
    ("frame_grid 2^40 pixels", errno.EINVAL, lambda m: m.frame_grid({"DMA32": 2**40}, 2)),
    ("frame_grid unknown pid", errno.ESRCH, lambda m: m.frame_grid({"DMA32": 8}, 99)),
    ("frames_per_pixel zone", errno.EINVAL, lambda m: m.frames_per_pixel({"HighMem": 8})),
    ("frame_pixels_at list", errno.EINVAL, lambda m: m.frame_pixels_at([1, [2]], {"DMA32": 8})),
]


@pytest.mark.parametrize("name, err, call", CASES, ids=[c[0] for c in CASES])
def test_bad_call(prepared, fails, name, err, call):
    fails(prepared, err, call, prepared)


def test_over_rlimit_as(prepared, fails):
    m = prepared
    m.prlimit(2, "AS", 8 * MiB)                     # 2048 pages; total_vm = 1057
    fails(m, errno.ENOMEM, m.sbrk, 2, 4 * MiB)      # 1057 + 1024 > 2048
    fails(m, errno.ENOMEM, m.mmap, 2, 4 * MiB)
    fails(m, errno.ENOMEM, m.mremap, 2, A, 1 * MiB, 5 * MiB)
    b0 = m.brk(2)
    d = m.state_digest()
    assert m.brk(2, b0 + 4 * MiB) == b0             # raw brk: unchanged break, no errno
    assert m.state_digest() == d


def test_over_rlimit_data(prepared, fails):
    m = prepared
    assert m.proc_status(2)["VmData"] == 3072
    m.prlimit(2, "DATA", 3 * MiB)                   # == data_vm: no room left
    fails(m, errno.ENOMEM, m.mmap, 2, PAGE)
    fails(m, errno.ENOMEM, m.sbrk, 2, PAGE)


def test_failed_mlock_over_limit_locks_nothing(prepared, fails):
    m = prepared
    a = m.mmap(2, 8 * MiB)
    fails(m, errno.ENOMEM, m.mlock, 2, a, 8 * MiB)     # 1 MiB locked + 8 MiB > 8 MiB
    assert m.proc_status(2)["VmLck"] == 1024
    assert m.mincore(2, a, 8 * MiB).sum() == 0


def test_failed_mmap_leaves_no_vma(prepared, fails):
    m = prepared
    vm0 = m.proc_status(2)["VmSize"]
    fails(m, errno.ENOMEM, m.mmap, 2, 262145 * PAGE)
    assert m.proc_status(2)["VmSize"] == vm0


def test_messages_differ_by_cause(prepared):
    """The message says *why*: two different ENOMEM causes give two different messages."""
    m = prepared
    msgs = set()
    for call in (lambda: m.mmap(2, 1 << 60), lambda: m.mmap(2, 262145 * PAGE),
                 lambda: m.mprotect(2, HOLE, PAGE, "r")):
        with pytest.raises(OSError) as ei:
            call()
        assert ei.value.errno == errno.ENOMEM
        msgs.add(str(ei.value))
    assert len(msgs) == 3


@pytest.mark.parametrize("pages", [1 << 34, (1 << 24) + 1])
def test_mincore_of_a_mapped_range_too_big_to_answer_is_refused(m, pages):
    """A 64 TiB MAP_NORESERVE mapping is mapped, so the kernel would answer with a 16 GiB
    vector; the engine answers at most 2^24 pages (64 GiB) a call and refuses more."""
    p = m.spawn("p")
    a = m.mmap(p, 1 << 46, flags="private|anonymous|noreserve")
    before = m.state_digest()
    with pytest.raises(OSError) as e:
        m.mincore(p, a, pages * PAGE)
    assert e.value.errno == errno.EINVAL and "at most 16777216 pages" in e.value.strerror
    assert m.state_digest() == before
