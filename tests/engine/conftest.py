"""Shared fixtures for the engine behaviour tests.

Every helper here is exposed as a fixture (not imported), so the test modules do not depend on
how pytest puts tests/engine on sys.path.

Conventions used throughout tests/engine:
- sizes and addresses in bytes, views (meminfo, proc_status) in kB, zoneinfo in pages;
- `fixed_map` places mappings at 1 TiB-spaced addresses (each one starts a fresh 512 GiB PGD
  slot), so page-table arithmetic (VmPTE) is certain: the first touched page there costs a PUD
  table + a PMD table + a PTE table = 12 kB.
"""

from __future__ import annotations

import errno

import pytest

from oomtui.engine import Machine, MachineConfig
from oomtui.engine.invariants import check_invariants

PAGE = 4096
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40


@pytest.fixture
def machine():
    """Factory: machine(ram_mib=1024, **MachineConfig kwargs) -> Machine.

    Every machine a test made is recounted from scratch when the test ends
    (check_invariants), so each behaviour test also checks the engine's books.
    """
    made = []

    def make(ram_mib: int | None = 1024, **kw) -> Machine:
        if "zones" in kw:
            made.append(Machine(MachineConfig(**kw)))
        else:
            made.append(Machine(MachineConfig(ram_mib=ram_mib, **kw)))
        return made[-1]

    yield make
    for m in made:
        check_invariants(m)


@pytest.fixture
def m(machine) -> Machine:
    """A default 1 GiB machine, no swap, overcommit mode 0."""
    return machine()


@pytest.fixture
def fails():
    """fails(m, ERRNO, fn, *args, **kw): fn must raise OSError(ERRNO) and leave m unchanged."""

    def check(m: Machine, err: int, fn, *args, **kw) -> OSError:
        before = m.state_digest()
        with pytest.raises(OSError) as ei:
            fn(*args, **kw)
        e = ei.value
        assert e.errno == err, (
            f"expected errno {errno.errorcode[err]}, got "
            f"{errno.errorcode.get(e.errno, e.errno)}: {e}"
        )
        assert str(e).strip(), "the error must say why"
        assert m.state_digest() == before, "a failed call must change nothing"
        return e

    return check


@pytest.fixture
def fixed_map():
    """fixed_map(m, pid, addr, length, prot="rw", flags="private|anonymous", **kw) -> addr.

    Asserts the target range is a hole first (mincore -> ENOMEM on its first and last page),
    then maps it with MAP_FIXED and checks the returned address.
    """

    def do(m: Machine, pid: int, addr: int, length: int, prot: str = "rw",
           flags: str = "private|anonymous", **kw) -> int:
        last = addr + ((length - 1) // PAGE) * PAGE
        for probe in {addr, last}:
            with pytest.raises(OSError) as ei:
                m.mincore(pid, probe, PAGE)
            assert ei.value.errno == errno.ENOMEM, f"{probe:#x} is not a hole"
        got = m.mmap(pid, length, prot=prot, flags=flags + "|fixed", addr=addr, **kw)
        assert got == addr
        return got

    return do


def delta(before: dict, after: dict) -> dict:
    """after - before for every int field (views are dicts of kB ints)."""
    return {k: after[k] - before[k] for k in before
            if isinstance(before[k], int) and not isinstance(before[k], bool)}


@pytest.fixture
def diff():
    """diff(before_dict, after_dict) -> {key: after - before} for int fields."""
    return delta
