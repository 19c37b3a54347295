"""Page-table accounting: VmPTE and meminfo PageTables (DESIGN.md §2, KERNEL.md §1 pgtables).

x86_64 4-level paging: a PTE table maps 2 MiB, a PMD table 1 GiB, a PUD table 512 GiB; the PGD
(4 kB per process) is counted in meminfo PageTables but not in VmPTE. Tables are allocated on first
touch and freed on munmap once no VMA is left over their range. 1 TiB = PGD slot 2, a fresh slot.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine import SwapDevice
from oomtui.engine.state import grow_rows

PAGE = 4096
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40


def vmpte(m, pid):
    return m.proc_status(pid)["VmPTE"]


def test_pgd_per_process_in_pagetables_only(m):
    assert m.meminfo()["PageTables"] == 4                 # init's PGD
    assert vmpte(m, 1) == 0
    p = m.spawn("p")
    assert m.meminfo()["PageTables"] == 8
    assert vmpte(m, p) == 0


def test_first_touch_in_fresh_slot_costs_pud_pmd_pte(m, fixed_map):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 4 * MiB)
    assert vmpte(m, p) == 0                              # a VMA alone costs nothing
    m.touch(p, a, PAGE)
    assert vmpte(m, p) == 12                             # PUD + PMD + PTE
    m.touch(p, a + 2 * MiB - PAGE, PAGE)                 # same 2 MiB region
    assert vmpte(m, p) == 12
    m.touch(p, a + 2 * MiB, PAGE)                        # next 2 MiB region
    assert vmpte(m, p) == 16


def test_read_faults_allocate_tables_too(m, fixed_map):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 4 * MiB)
    m.touch(p, a, 4 * MiB, write=False)
    assert vmpte(m, p) == 16


def test_tib_noreserve_costs_by_touched_regions(machine, fixed_map):
    m = machine(sysctl={"vm.overcommit_memory": 1})
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 1 * TiB, flags="private|anonymous|noreserve")
    assert vmpte(m, p) == 0
    m.touch(p, a, PAGE)
    assert vmpte(m, p) == 12                             # PUD + PMD + PTE
    m.touch(p, a + 1 * GiB, PAGE)
    assert vmpte(m, p) == 12 + 8                         # + PMD + PTE
    m.touch(p, a + 512 * GiB, PAGE)
    assert vmpte(m, p) == 20 + 12                        # next PGD slot: PUD + PMD + PTE
    m.touch(p, a + 3 * MiB, PAGE)
    assert vmpte(m, p) == 32 + 4                         # another PTE table under the 1st PMD
    assert m.proc_status(p)["RssAnon"] == 16


def test_pagetables_is_sum_of_vmpte_plus_pgds(m, fixed_map):
    p = m.spawn("p")
    q = m.spawn("q")
    fixed_map(m, p, TiB, 8 * MiB)
    m.touch(p, TiB, 8 * MiB)                             # PUD + PMD + 4 PTE = 24
    b = m.mmap(q, 3 * MiB)
    m.touch(q, b, 3 * MiB)
    assert vmpte(m, p) == 24
    total = sum(vmpte(m, x["pid"]) + 4 for x in m.processes())
    assert m.meminfo()["PageTables"] == total


def test_munmap_frees_tables_left_without_vma(m, fixed_map, diff):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 4 * MiB)
    b = fixed_map(m, p, TiB + 4 * MiB, 4 * MiB)
    m.touch(p, a, 4 * MiB)
    m.touch(p, b, PAGE)
    assert vmpte(m, p) == 4 + 4 + 2 * 4 + 4             # PUD, PMD, 2 PTE under a, 1 under b
    mi0 = m.meminfo()
    m.munmap(p, a, 4 * MiB)
    assert vmpte(m, p) == 12                             # b still needs PUD, PMD, its PTE
    d = diff(mi0, m.meminfo())
    assert d["PageTables"] == -8 and d["MemFree"] == 4096 + 8
    m.munmap(p, b, 4 * MiB)
    assert vmpte(m, p) == 0
    assert m.meminfo()["PageTables"] == mi0["PageTables"] - 20


def test_munmap_keeps_table_shared_with_remaining_vma(m, fixed_map):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 2 * MiB)
    m.touch(p, a, 2 * MiB)
    m.munmap(p, a, 1 * MiB)                              # the PTE table still maps a+1 MiB..
    assert vmpte(m, p) == 12
    assert m.proc_status(p)["RssAnon"] == 1024


def test_vmpte_counts_in_oom_badness(m, fixed_map):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 4 * MiB)
    m.touch(p, a, 4 * MiB, write=False)                  # zero pages: RSS 0, VmPTE 16 kB
    assert m.proc_status(p)["VmRSS"] == 0
    assert m.oom_badness(p) == 4                         # 16 kB / 4 = 4 pages of page tables


def test_exit_frees_page_tables(m, fixed_map, diff):
    mi0 = m.meminfo()
    p = m.spawn("p")
    fixed_map(m, p, TiB, 4 * MiB)
    m.touch(p, TiB, 4 * MiB)
    m.exit(p)
    d = diff(mi0, m.meminfo())
    assert d["PageTables"] == 0 and d["MemFree"] == 0 and d["KernelStack"] == 0


def test_reading_a_big_file_grows_the_page_cache_index_not_the_page_table_pool(m):
    """Each table grows by its own use: the page cache's hash doubles for a file's pages,
    and the page-table pool (512 entries a row) stays as it was."""
    rows, pt_slots, pc_slots = m.pt.row_pfn.size, m.pt.keys.size, m.pc.keys.size
    p = m.spawn("reader")
    m.write_file(p, "/big", 0, offset=512 * MiB)  # sized, nothing cached yet
    m.read_file(p, "/big", 512 * MiB)
    assert m.pc.keys.size >= 2 * (512 * MiB // PAGE) > pc_slots
    assert (m.pt.row_pfn.size, m.pt.keys.size) == (rows, pt_slots)


def test_the_digest_does_not_depend_on_how_big_the_tables_grew(machine):
    """Twins, one with its page-table pool and both hash tables grown ahead of need: equal
    digests, and equal futures, also through the walks that pass over a whole table (swapoff
    over the page tables, unmapping a sparse shmem object longer than the page cache's index)."""
    twins = [machine(ram_mib=256, swap=[SwapDevice(size_mib=256)]) for _ in range(2)]
    for m in twins:
        p = m.spawn("p")
        m.touch(p, m.mmap(p, 320 * MiB), 320 * MiB)  # some of it is swapped out
        shm = m.mmap(p, GiB, flags="shared|anonymous|noreserve")
        for i in range(64):
            m.touch(p, shm + i * 16 * MiB, 64 * 1024)
        m.write_file(p, "/f", 32 * MiB)
    big = twins[1]
    rows, nfree = big.pt.row_pfn.size, int(big.pt.nfree[0])
    pt = grow_rows(big.pt, 4 * rows, rows)
    pt.free_rows[nfree:nfree + 3 * rows] = np.arange(4 * rows - 1, rows - 1, -1)
    pt.nfree[0] = nfree + 3 * rows
    big.pt = big._rehash(pt)
    big.pc = big._rehash(big.pc)
    assert big.pt.row_pfn.size > twins[0].pt.row_pfn.size
    assert twins[0].state_digest() == big.state_digest()
    for m in twins:
        assert m.meminfo()["SwapFree"] < m.meminfo()["SwapTotal"]
        m.munmap(p, shm, GiB)
        m.munmap(p, m.procs[p].mm.vmas[0].start, 160 * MiB)
        m.swapoff(0)
        q = m.spawn("q")
        m.touch(q, m.mmap(q, 64 * MiB), 64 * MiB)
        m.step(50)
    assert twins[0].state_digest() == big.state_digest()
    assert twins[0].meminfo() == big.meminfo()
