"""Overcommit: CommitLimit, Committed_AS and __vm_enough_memory (KERNEL.md §3).

Numbers for the default 1 GiB machine without swap:
  totalram = 1024 MiB = 262144 pages; MemTotal = 1048576 kB
  admin_reserve_kbytes = min(1048576/32, 8192) = 8192 kB = 2048 pages
  user_reserve_kbytes  = min(1048576/32, 131072) = 32768 kB = 8192 pages
  CommitLimit (ratio 50) = 262144*50/100 = 131072 pages = 524288 kB
Every process has a 132 kB (33 page) VM_ACCOUNT [stack] VMA, so Committed_AS at boot = 132 kB.
A swap device of N MiB gives N*256 - 1 pages: its first page is the swap header (mkswap), as on
a real kernel (a 512 MiB device shows SwapTotal 524284 kB).
"""

from __future__ import annotations

import errno

import pytest

from oomtui.engine import SwapDevice

PAGE = 4096
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40


def committed(m) -> int:
    return m.meminfo()["Committed_AS"]


# ---------------------------------------------------------------- defaults and CommitLimit

def test_default_overcommit_sysctls(m):
    assert m.sysctl("vm.overcommit_memory") == 0
    assert m.sysctl("vm.overcommit_ratio") == 50
    assert m.sysctl("vm.overcommit_kbytes") == 0
    # min(1048576 kB / 32 = 32768, 8192) and min(32768, 131072)
    assert m.sysctl("vm.admin_reserve_kbytes") == 8192
    assert m.sysctl("vm.user_reserve_kbytes") == 32768


def test_reserves_scale_with_small_ram(machine):
    m = machine(ram_mib=128)
    # 128 MiB = 131072 kB; /32 = 4096 kB < both caps
    assert m.sysctl("vm.admin_reserve_kbytes") == 4096
    assert m.sysctl("vm.user_reserve_kbytes") == 4096


def test_user_reserve_capped_at_128_mib(machine):
    m = machine(ram_mib=8192)
    # 8388608 kB / 32 = 262144 > 131072 cap; admin capped at 8192
    assert m.sysctl("vm.user_reserve_kbytes") == 131072
    assert m.sysctl("vm.admin_reserve_kbytes") == 8192


def test_commit_limit_ratio_no_swap(m):
    # 262144 pages * 50 / 100 = 131072 pages = 524288 kB
    assert m.meminfo()["CommitLimit"] == 524288


def test_commit_limit_includes_swap(machine):
    m = machine(swap=[SwapDevice(size_mib=512)])
    # 131072 pages + 512 MiB swap (131072 - 1 header = 131071 pages) = 262143 pages
    assert m.meminfo()["SwapTotal"] == 524284
    assert m.meminfo()["CommitLimit"] == 262143 * 4


def test_commit_limit_two_swap_devices(machine):
    m = machine(swap=[SwapDevice(size_mib=256), SwapDevice(size_mib=128)])
    # 524288 kB + (262144 - 4) kB + (131072 - 4) kB: one header page per device
    assert m.meminfo()["CommitLimit"] == 524288 + 262140 + 131068


def test_commit_limit_follows_ratio_sysctl(m):
    m.sysctl("vm.overcommit_ratio", 80)
    # 262144 * 80 / 100 = 209715 pages (floor) = 838860 kB
    assert m.meminfo()["CommitLimit"] == 838860


def test_commit_limit_from_kbytes(machine):
    m = machine(swap=[SwapDevice(size_mib=64)])
    m.sysctl("vm.overcommit_kbytes", 102400)
    # kbytes/4 = 25600 pages + (16384 - 1) swap pages = 41983 pages = 167932 kB
    assert m.meminfo()["CommitLimit"] == 167932


def test_overcommit_kbytes_and_ratio_exclude_each_other(m):
    # mm/util.c: writing overcommit_kbytes zeroes overcommit_ratio and vice versa
    m.sysctl("vm.overcommit_kbytes", 102400)
    assert m.sysctl("vm.overcommit_ratio") == 0
    m.sysctl("vm.overcommit_ratio", 50)
    assert m.sysctl("vm.overcommit_kbytes") == 0
    assert m.meminfo()["CommitLimit"] == 524288


def test_config_sysctl_sets_mode(machine):
    m = machine(sysctl={"vm.overcommit_memory": 2})
    assert m.sysctl("vm.overcommit_memory") == 2


# ---------------------------------------------------------------- what is charged

def test_committed_as_at_boot_is_init_stack(m):
    # only init's 132 kB [stack] is VM_ACCOUNT
    assert committed(m) == 132


def test_spawn_charges_the_stack(m):
    m.spawn("a")
    m.spawn("b")
    assert committed(m) == 3 * 132


def test_private_writable_anon_charged_full_length(m):
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 10 * MiB)
    assert committed(m) - c0 == 10240


def test_length_rounded_up_to_pages(m):
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 5000)  # PAGE_ALIGN(5000) = 8192 -> 8 kB
    assert committed(m) - c0 == 8


def test_readonly_private_not_charged(m):
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 10 * MiB, prot="r")
    m.mmap(p, 10 * MiB, prot="none")
    assert committed(m) == c0


def test_noreserve_uncharged_in_mode_0(m):
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 10 * MiB, flags="private|anonymous|noreserve")
    assert committed(m) == c0


def test_noreserve_uncharged_in_mode_1(machine):
    m = machine(sysctl={"vm.overcommit_memory": 1})
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 10 * MiB, flags="private|anonymous|noreserve")
    assert committed(m) == c0


def test_noreserve_charged_in_mode_2(machine):
    m = machine(sysctl={"vm.overcommit_memory": 2})
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 10 * MiB, flags="private|anonymous|noreserve")
    assert committed(m) - c0 == 10240


def test_shared_anon_charged_whole_size_at_mmap(m):
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 4 * MiB, flags="shared|anonymous")
    assert committed(m) - c0 == 4096


def test_shared_anon_noreserve_uncharged_mode_0(m):
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 4 * MiB, flags="shared|anonymous|noreserve")
    assert committed(m) == c0


def test_shared_anon_readonly_still_charged(m):
    # shmem_acct_size charges the object regardless of prot
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 4 * MiB, prot="r", flags="shared|anonymous")
    assert committed(m) - c0 == 4096


def test_private_writable_file_charged_shared_file_not(m):
    p = m.spawn("p")
    m.write_file(p, "/data/f", 1 * MiB)
    c0 = committed(m)
    m.mmap(p, 1 * MiB, prot="rw", flags="shared", file="/data/f")
    assert committed(m) == c0  # MAP_SHARED file: never charged
    m.mmap(p, 1 * MiB, prot="r", flags="private", file="/data/f")
    assert committed(m) == c0  # read-only private: not yet
    m.mmap(p, 1 * MiB, prot="rw", flags="private", file="/data/f")
    assert committed(m) - c0 == 1024  # private writable file: charged


def test_munmap_uncharges(m):
    p = m.spawn("p")
    c0 = committed(m)
    a = m.mmap(p, 10 * MiB)
    m.munmap(p, a + 2 * MiB, 3 * MiB)
    assert committed(m) - c0 == 10240 - 3072
    m.munmap(p, a, 10 * MiB)
    assert committed(m) == c0


def test_exit_uncharges_everything(m):
    c0 = committed(m)
    p = m.spawn("p")
    m.mmap(p, 10 * MiB)
    m.mmap(p, 4 * MiB, flags="shared|anonymous")
    m.brk(p, m.brk(p) + 1 * MiB)
    m.exit(p)
    assert committed(m) == c0


def test_touching_does_not_change_commit(m):
    p = m.spawn("p")
    a = m.mmap(p, 4 * MiB)
    c0 = committed(m)
    m.touch(p, a, 4 * MiB)
    assert committed(m) == c0


def test_mprotect_adding_write_charges_once(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, prot="r")
    c0 = committed(m)
    m.mprotect(p, a, 1 * MiB, "rw")
    assert committed(m) - c0 == 1024
    m.mprotect(p, a, 1 * MiB, "r")  # removing write keeps VM_ACCOUNT
    assert committed(m) - c0 == 1024
    m.mprotect(p, a, 1 * MiB, "rw")  # already accounted: no second charge
    assert committed(m) - c0 == 1024


def test_mprotect_partial_charges_only_the_part(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, prot="r")
    c0 = committed(m)
    m.mprotect(p, a + 256 * 1024, 256 * 1024, "rw")
    assert committed(m) - c0 == 256


def test_mprotect_write_on_shared_not_charged(m):
    p = m.spawn("p")
    m.write_file(p, "/data/f", 1 * MiB)
    a = m.mmap(p, 1 * MiB, prot="r", flags="shared", file="/data/f")
    c0 = committed(m)
    m.mprotect(p, a, 1 * MiB, "rw")
    assert committed(m) == c0


# ---------------------------------------------------------------- mode 0 (heuristic)

def test_mode0_refuses_single_request_over_ram_plus_swap(m, fails):
    p = m.spawn("p")
    # totalram + swap = 262144 pages: exactly 1 GiB passes, one page more fails
    m.mmap(p, 262144 * PAGE)
    e = fails(m, errno.ENOMEM, m.mmap, p, 262145 * PAGE)
    assert "rlimit" not in str(e).lower()


def test_mode0_ignores_current_commitment(m):
    p = m.spawn("p")
    for _ in range(4):
        m.mmap(p, 1 * GiB)  # each request alone is <= 262144 pages
    # 4 GiB + 2 stacks committed: far above CommitLimit 524288 kB
    assert committed(m) == 4 * 1048576 + 2 * 132
    assert committed(m) > m.meminfo()["CommitLimit"]


def test_mode0_limit_counts_swap(machine, fails):
    m = machine(swap=[SwapDevice(size_mib=512)])
    p = m.spawn("p")
    # 262144 + 131071 = 393215 pages
    m.mmap(p, 393215 * PAGE)
    fails(m, errno.ENOMEM, m.mmap, p, 393216 * PAGE)


def test_mode0_noreserve_bypasses_size_check(m):
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 4 * GiB, flags="private|anonymous|noreserve")
    assert committed(m) == c0
    assert m.proc_status(p)["VmSize"] == 132 + 4 * 1048576


def test_mode0_shared_anon_over_ram_refused(m, fails):
    p = m.spawn("p")
    fails(m, errno.ENOMEM, m.mmap, p, 262145 * PAGE, flags="shared|anonymous")


def test_mode0_mprotect_write_over_ram_refused(m, fails):
    p = m.spawn("p")
    a = m.mmap(p, 2 * GiB, prot="r")  # not accountable: no check
    # adding write charges 524288 pages > 262144
    fails(m, errno.ENOMEM, m.mprotect, p, a, 2 * GiB, "rw")


def test_mode0_fork_of_big_process_succeeds(m):
    p = m.spawn("p")
    m.mmap(p, 1 * GiB)
    c0 = committed(m)
    m.fork(p)  # charges 1 GiB + 132 kB again, each VMA checked on its own size
    assert committed(m) - c0 == 1048576 + 132


# ---------------------------------------------------------------- mode 1 (always)

def test_mode1_accepts_anything_and_charges_it(machine):
    m = machine(sysctl={"vm.overcommit_memory": 1})
    p = m.spawn("p")
    c0 = committed(m)
    m.mmap(p, 1 * TiB)
    assert committed(m) - c0 == 1 << 30  # 1 TiB = 1073741824 kB
    m.mmap(p, 4 * GiB, flags="shared|anonymous")
    assert committed(m) - c0 == (1 << 30) + 4 * 1048576


# ---------------------------------------------------------------- mode 2 (never)

def _mode2(machine, **kw):
    return machine(sysctl={"vm.overcommit_memory": 2}, **kw)


def test_mode2_exact_boundary_with_reserves(machine, fails):
    m = _mode2(machine)
    p = m.spawn("p")
    q = m.spawn("q")
    r = m.spawn("r", caps=("CAP_SYS_ADMIN",))
    # committed: 4 stacks = 132 pages. p: total_vm 33 -> user reserve min(33/32=1, 8192) = 1
    # allowed = 131072 - 2048 (admin) - 1 = 129023; need 132 + n < 129023 -> n <= 128890
    assert committed(m) == 4 * 132
    e = fails(m, errno.ENOMEM, m.mmap, p, 128891 * PAGE)
    assert "rlimit" not in str(e).lower()
    m.mmap(p, 128890 * PAGE)
    assert committed(m) == (132 + 128890) * 4  # 129022 pages
    # q: 129022 + 1 = 129023 is not < 129023
    fails(m, errno.ENOMEM, m.mmap, q, PAGE)
    # r has CAP_SYS_ADMIN: allowed = 131072 - 1 = 131071 -> 129022 + n < 131071 -> n <= 2048
    fails(m, errno.ENOMEM, m.mmap, r, 2049 * PAGE)
    m.mmap(r, 2048 * PAGE)
    fails(m, errno.ENOMEM, m.mmap, r, PAGE)


def test_mode2_reads_reserve_sysctls(machine, fails):
    m = _mode2(machine)
    m.sysctl("vm.admin_reserve_kbytes", 0)
    m.sysctl("vm.user_reserve_kbytes", 0)
    p = m.spawn("p")
    # allowed = 131072; committed 66 pages; n <= 131072 - 66 - 1 = 131005
    fails(m, errno.ENOMEM, m.mmap, p, 131006 * PAGE)
    m.mmap(p, 131005 * PAGE)


@pytest.mark.parametrize("user_reserve_kbytes, reserve_pages", [(None, 513), (1024, 256)])
def test_mode2_user_reserve_uses_total_vm_before_the_mapping(
        machine, fails, user_reserve_kbytes, reserve_pages):
    m = machine(sysctl={"vm.overcommit_memory": 1})
    p = m.spawn("p")
    m.mmap(p, 64 * MiB)  # charged in mode 1: 16384 pages
    m.sysctl("vm.overcommit_memory", 2)
    if user_reserve_kbytes is not None:
        m.sysctl("vm.user_reserve_kbytes", user_reserve_kbytes)
    # total_vm = 33 + 16384 = 16417 pages -> /32 = 513; min(513, 8192) = 513 or min(513, 256)
    assert m.proc_status(p)["VmSize"] == 16417 * 4
    cpages = committed(m) // 4
    assert cpages == 33 + 33 + 16384
    allowed = 131072 - 2048 - reserve_pages
    n = allowed - cpages - 1
    fails(m, errno.ENOMEM, m.mmap, p, (n + 1) * PAGE)
    m.mmap(p, n * PAGE)


def test_mode2_commit_limit_from_kbytes(machine, fails):
    m = _mode2(machine)
    m.sysctl("vm.overcommit_kbytes", 102400)
    m.sysctl("vm.admin_reserve_kbytes", 0)
    p = m.spawn("p")
    # CommitLimit = 25600 pages; user reserve 1; committed 66 -> n <= 25600 - 1 - 66 - 1
    n = 25600 - 1 - 66 - 1
    fails(m, errno.ENOMEM, m.mmap, p, (n + 1) * PAGE)
    m.mmap(p, n * PAGE)


def test_mode2_brk_growth_refused_returns_old_break(machine):
    m = _mode2(machine)
    p = m.spawn("p")
    b0 = m.brk(p)
    digest = m.state_digest()
    # 800 MiB = 204800 pages > CommitLimit 131072 pages: raw brk returns the unchanged break
    assert m.brk(p, b0 + 800 * MiB) == b0
    assert m.state_digest() == digest
    assert m.brk(p, b0 + 1 * MiB) == b0 + 1 * MiB
    assert committed(m) == 2 * 132 + 1024


def test_mode2_sbrk_raises(machine, fails):
    m = _mode2(machine)
    p = m.spawn("p")
    fails(m, errno.ENOMEM, m.sbrk, p, 800 * MiB)


def test_mode2_shared_anon_charged_and_refused(machine, fails):
    m = _mode2(machine)
    p = m.spawn("p")
    fails(m, errno.ENOMEM, m.mmap, p, 600 * MiB, flags="shared|anonymous")
    fails(m, errno.ENOMEM, m.mmap, p, 600 * MiB, flags="shared|anonymous|noreserve")


def test_mode2_mprotect_write_refused(machine, fails):
    m = _mode2(machine)
    p = m.spawn("p")
    a = m.mmap(p, 600 * MiB, prot="r")
    fails(m, errno.ENOMEM, m.mprotect, p, a, 600 * MiB, "rw")


def test_mode2_mremap_growth_refused(machine, fails):
    m = _mode2(machine)
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    fails(m, errno.ENOMEM, m.mremap, p, a, 1 * MiB, 600 * MiB)


def test_mode2_fork_refused(machine, fails):
    m = _mode2(machine)
    p = m.spawn("p")
    m.mmap(p, 300 * MiB)  # 76800 pages; a second copy would exceed ~129000
    nxt = m.spawn("probe")  # takes pid p+1; a refused fork must not consume a pid
    before = m.processes()
    fails(m, errno.ENOMEM, m.fork, p)
    assert m.processes() == before
    m.exit(nxt)
    assert m.spawn("after") == nxt + 1


def test_mode2_shared_anon_not_recharged_at_fork(machine):
    m = _mode2(machine)
    p = m.spawn("p")
    m.mmap(p, 300 * MiB, flags="shared|anonymous")  # shmem charged once, not VM_ACCOUNT
    c0 = committed(m)
    m.fork(p)
    assert committed(m) - c0 == 132  # only the child's copy of the stack


def test_rlimit_as_checked_before_commit(machine, fails):
    m = _mode2(machine)
    p = m.spawn("p")
    m.prlimit(p, "AS", 1 * MiB)
    # 2 GiB breaks both RLIMIT_AS and the commit limit: the RLIMIT_AS error comes first
    e_as = fails(m, errno.ENOMEM, m.mmap, p, 2 * GiB)
    m.prlimit(p, "AS", 2**64 - 1)
    e_commit = fails(m, errno.ENOMEM, m.mmap, p, 2 * GiB)
    assert str(e_as) != str(e_commit)
    assert "rlimit" in str(e_as).lower()
    assert "rlimit" not in str(e_commit).lower()


def test_mode0_mremap_growth_checks_only_the_delta(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * GiB)                     # 262144 pages: the largest single request
    c0 = committed(m)
    m.mremap(p, a, 1 * GiB, 1 * GiB + 4 * MiB)  # charges the 1024-page growth only
    assert committed(m) - c0 == 4096


def test_mode0_brk_growth_checks_only_the_delta(m):
    p = m.spawn("p")
    b0 = m.brk(p)
    assert m.brk(p, b0 + 1 * GiB) == b0 + 1 * GiB
    assert m.brk(p, b0 + 2 * GiB) == b0 + 2 * GiB      # +1 GiB again: fine
    d = m.state_digest()
    assert m.brk(p, b0 + 3 * GiB + PAGE) == b0 + 2 * GiB   # 262145 pages at once: refused
    assert m.state_digest() == d


def test_mode2_fork_exact_boundary(machine, fails):
    # parent total_vm = 33 + n; committed before fork = 33 (init) + 33 + n
    # dup_mmap charges 33 + n more (per VMA, same final sum); allowed uses the parent's total_vm:
    # fork ok iff 66 + n + 33 + n < 131072 - 2048 - (33 + n) // 32
    def ok(n):
        return 99 + 2 * n < 131072 - 2048 - (33 + n) // 32
    n = max(k for k in range(60000, 66000) if ok(k))
    # n = 63470: 99 + 126940 = 127039 < 129024 - 63503 // 32 (1984) = 127040; n + 1 fails
    assert (n, ok(n + 1)) == (63470, False)
    for size, good in ((n + 1, False), (n, True)):
        m = _mode2(machine)
        p = m.spawn("p")
        m.mmap(p, size * PAGE)
        if good:
            assert m.fork(p) == p + 1
        else:
            fails(m, errno.ENOMEM, m.fork, p)
