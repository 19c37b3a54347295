"""MachineConfig, SwapDevice and the sysctl table: defaults, zone split, validation, round trip."""

import errno
from contextlib import contextmanager

import pytest

from oomtui.engine.config import (
    PAGE_SIZE,
    RLIM_INFINITY,
    SYSCTLS,
    ZONE_NAMES,
    MachineConfig,
    SwapDevice,
    Sysctl,
    sysctl_defaults,
    validate_sysctl,
)


@contextmanager
def raises(err, *words):
    """Expect an OSError with errno `err` whose message contains every word."""
    with pytest.raises(OSError) as info:
        yield
    assert info.value.errno == err, info.value
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_constants():
    assert PAGE_SIZE == 4096
    assert ZONE_NAMES == ("DMA", "DMA32", "Normal", "Movable", "Device")
    assert RLIM_INFINITY == 2**64 - 1


def test_defaults():
    cfg = MachineConfig(ram_mib=1024)
    assert cfg.zones is None and cfg.swap == () and cfg.sysctl == {}
    assert (cfg.thp, cfg.tick_ms, cfg.seed) == ("madvise", 10, 0)


@pytest.mark.parametrize(
    "ram_mib, split",
    [
        (16, (3840, 256, 0, 0, 0)),
        (1024, (3840, 258304, 0, 0, 0)),
        (4096, (3840, 1044480, 256, 0, 0)),
        (16384, (3840, 1044480, 3145984, 0, 0)),
    ],
)
def test_ram_mib_zone_split(ram_mib, split):
    pages = MachineConfig(ram_mib=ram_mib).zone_pages()
    assert pages == split
    assert sum(pages) == ram_mib * 256  # MemTotal = ram_mib * 1024 kB


def test_explicit_zones():
    cfg = MachineConfig(zones={"Normal": 100000, "DMA32": 50000})
    assert cfg.zone_pages() == (0, 50000, 100000, 0, 0)
    assert cfg.ram_mib is None


def test_swap_list_stored_as_tuple():
    cfg = MachineConfig(ram_mib=64, swap=[SwapDevice(100), SwapDevice(200, priority=5)])
    assert cfg.swap == (SwapDevice(100, None), SwapDevice(200, 5))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({}, ("exactly one of ram_mib and zones",)),
        ({"ram_mib": 1024, "zones": {"Normal": 8192}}, ("exactly one",)),
        ({"ram_mib": 15}, ("ram_mib=15", "16..131072", "per-frame arrays")),
        ({"ram_mib": 131073}, ("ram_mib=131073", "128 GiB")),
        ({"ram_mib": 1024.0}, ("ram_mib", "int", "float")),
        ({"ram_mib": True}, ("ram_mib", "bool")),
        ({"ram_mib": "1024"}, ("ram_mib", "str")),
        ({"zones": [4096]}, ("zones",)),
        ({"zones": {"HighMem": 8192}}, ("HighMem", "DMA32")),
        ({"zones": {"Normal": -1, "DMA32": 8192}}, ("zones['Normal']=-1",)),
        ({"zones": {"Normal": 8192.0}}, ("zones['Normal']", "float")),
        ({"zones": {"DMA": 4096, "Normal": 8192}}, ("zones['DMA']=4096", "0..4095")),
        ({"zones": {"DMA32": 1044481}}, ("zones['DMA32']=1044481", "0..1044480")),
        ({"zones": {"Normal": 4095}}, ("total of zones=4095", "4096..33554432")),
        ({"zones": {"Normal": 131072 * 256 + 1}}, ("33554432",)),
        ({"zones": {"Movable": 8192}}, ("lowmem",)),
        ({"ram_mib": 64, "swap": SwapDevice(10)}, ("swap", "list")),
        ({"ram_mib": 64, "swap": [100]}, ("swap entries", "SwapDevice")),
        ({"ram_mib": 64, "thp": "sometimes"}, ("thp='sometimes'", "always, madvise, never")),
        ({"ram_mib": 64, "thp": None}, ("thp=None",)),
        ({"ram_mib": 64, "tick_ms": 0}, ("tick_ms=0", "1..1000")),
        ({"ram_mib": 64, "tick_ms": 1001}, ("tick_ms=1001",)),
        ({"ram_mib": 64, "tick_ms": 10.0}, ("tick_ms", "float")),
        ({"ram_mib": 64, "seed": -1}, ("seed=-1", "0..9223372036854775807")),
        ({"ram_mib": 64, "seed": 2**63}, ("seed=",)),
        ({"ram_mib": 64, "sysctl": [("vm.swappiness", 1)]}, ("sysctl", "list")),
    ],
)
def test_config_errors(kwargs, words):
    with raises(errno.EINVAL, *words):
        MachineConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"size_mib": 0}, ("swap size_mib=0", "1..1048576")),
        ({"size_mib": 1048577}, ("1048577",)),
        ({"size_mib": 1.5}, ("size_mib", "float")),
        ({"size_mib": 100, "priority": -1}, ("swap priority=-1", "0..32767")),
        ({"size_mib": 100, "priority": 32768}, ("32768",)),
        ({"size_mib": 100, "priority": False}, ("priority", "bool")),
    ],
)
def test_swap_device_errors(kwargs, words):
    with raises(errno.EINVAL, *words):
        SwapDevice(**kwargs)


def test_unknown_sysctl_is_enoent():
    with raises(errno.ENOENT, "no such sysctl: vm.foo"):
        MachineConfig(ram_mib=64, sysctl={"vm.foo": 1})
    with raises(errno.ENOENT, "no such sysctl: swappiness"):
        validate_sysctl("swappiness", 1)
    # watermark boosting is not modelled, so its knob is refused rather than ignored (KERNEL.md §0)
    with raises(errno.ENOENT, "no such sysctl: vm.watermark_boost_factor"):
        validate_sysctl("vm.watermark_boost_factor", 0)


@pytest.mark.parametrize(
    "name, bad, good",
    [
        ("vm.overcommit_memory", (-1, 3), (0, 2)),
        ("vm.overcommit_ratio", (-1, 2**31), (0, 2**31 - 1)),
        ("vm.overcommit_kbytes", (-1, 2**64), (0, 2**64 - 1)),
        ("vm.swappiness", (-1, 201), (0, 200)),
        ("vm.min_free_kbytes", (-1, 2**31), (0, 2**31 - 1)),
        ("vm.watermark_scale_factor", (0, 3001), (1, 3000)),
        ("vm.admin_reserve_kbytes", (-1, 2**64), (0, 2**64 - 1)),
        ("vm.user_reserve_kbytes", (-1,), (0, 2**64 - 1)),
        ("vm.panic_on_oom", (-1, 3), (0, 2)),
        ("vm.oom_kill_allocating_task", (2**31, -(2**31) - 1), (-(2**31), 5, 2**31 - 1)),
        ("vm.oom_dump_tasks", (2**31,), (0, -7)),
        ("vm.vfs_cache_pressure", (-1, 2**31), (0, 10000)),
        ("vm.vfs_cache_pressure_denom", (99,), (100, 1000)),
        ("vm.dirty_ratio", (-1, 101), (0, 100)),
        ("vm.dirty_background_ratio", (-1, 101), (0, 100)),
        ("vm.dirty_bytes", (-1, 0, 8191), (8192, 2**44 - 4096)),
        ("vm.dirty_background_bytes", (-1, 0), (1, 2**44 - 4096)),
        ("vm.page-cluster", (-1, 32), (0, 31)),
        ("vm.max_map_count", (-1, 2**31), (0, 1048576)),
    ],
)
def test_sysctl_ranges(name, bad, good):
    for value in good:
        assert validate_sysctl(name, value) == value
        assert MachineConfig(ram_mib=64, sysctl={name: value}).sysctl[name] == value
    for value in bad:
        with raises(errno.EINVAL, f"{name}={value}", "out of range"):
            validate_sysctl(name, value)
        with raises(errno.EINVAL, name):
            MachineConfig(ram_mib=64, sysctl={name: value})


@pytest.mark.parametrize("value", [True, 1.0, "1", None, (1,)])
def test_sysctl_types(value):
    with raises(errno.EINVAL, "vm.swappiness", "must be an int"):
        validate_sysctl("vm.swappiness", value)


def test_lowmem_reserve_ratio_normalized():
    # lowmem_reserve_ratio_sysctl_handler stores values < 1 as 0; a list is stored as a tuple
    ratios = [256, -5, 0, 1, -(2**31)]
    assert validate_sysctl("vm.lowmem_reserve_ratio", ratios) == (256, 0, 0, 1, 0)
    cfg = MachineConfig(ram_mib=64, sysctl={"vm.lowmem_reserve_ratio": [128, 64, -1, 0, 0]})
    assert cfg.sysctl == {"vm.lowmem_reserve_ratio": (128, 64, 0, 0, 0)}


@pytest.mark.parametrize(
    "value, words",
    [
        ((256, 256, 32, 0), ("takes 5 ints", "DMA, DMA32, Normal, Movable, Device")),
        ((256, 256, 32, 0, 0, 0), ("takes 5 ints",)),
        (256, ("takes 5 ints",)),
        ((256, 256, 32.0, 0, 0), ("vm.lowmem_reserve_ratio[2]", "float")),
        ((256, 256, 2**31, 0, 0), ("vm.lowmem_reserve_ratio[2]=2147483648",)),
    ],
)
def test_lowmem_reserve_ratio_errors(value, words):
    with raises(errno.EINVAL, *words):
        validate_sysctl("vm.lowmem_reserve_ratio", value)


def test_overcommit_kbytes_zeroes_ratio():
    cfg = MachineConfig(ram_mib=64, sysctl={"vm.overcommit_kbytes": 4096})
    assert cfg.sysctl == {"vm.overcommit_kbytes": 4096, "vm.overcommit_ratio": 0}
    cfg = MachineConfig(ram_mib=64, sysctl={"vm.overcommit_ratio": 80, "vm.overcommit_kbytes": 0})
    assert cfg.sysctl == {"vm.overcommit_ratio": 80, "vm.overcommit_kbytes": 0}
    with raises(errno.EINVAL, "vm.overcommit_ratio=80", "vm.overcommit_kbytes=4096", "only one"):
        MachineConfig(ram_mib=64, sysctl={"vm.overcommit_ratio": 80, "vm.overcommit_kbytes": 4096})


def test_dirty_bytes_zero_their_ratio_and_need_32_bit_page_counts():
    cfg = MachineConfig(ram_mib=64, sysctl={"vm.dirty_bytes": 8192, "vm.dirty_background_bytes": 1})
    assert cfg.sysctl == {"vm.dirty_bytes": 8192, "vm.dirty_ratio": 0,
                          "vm.dirty_background_bytes": 1, "vm.dirty_background_ratio": 0}
    with raises(errno.EINVAL, "vm.dirty_ratio=20", "vm.dirty_bytes=8192", "only one"):
        MachineConfig(ram_mib=64, sysctl={"vm.dirty_ratio": 20, "vm.dirty_bytes": 8192})
    for name in ("vm.dirty_bytes", "vm.dirty_background_bytes"):  # DIV_ROUND_UP > UINT_MAX
        with raises(errno.ERANGE, name, "4294967295 pages"):
            validate_sysctl(name, 2**44 - 4095)


def test_sysctl_table():
    assert all(isinstance(s, Sysctl) and s.name == name and s.doc for name, s in SYSCTLS.items())
    computed = {name for name, s in SYSCTLS.items() if s.default is None}
    assert computed == {"vm.min_free_kbytes", "vm.admin_reserve_kbytes", "vm.user_reserve_kbytes"}
    for name, s in SYSCTLS.items():
        # drop_caches reads 0 until a write of 1..4; the dirty bytes read 0 until written
        if s.default is not None and name not in ("vm.drop_caches", "vm.dirty_bytes",
                                                  "vm.dirty_background_bytes"):
            assert validate_sysctl(name, s.default) == s.default


def test_sysctl_defaults():
    d = sysctl_defaults(MachineConfig(ram_mib=1024).zone_pages(), "madvise")
    assert d.keys() == SYSCTLS.keys()
    assert d["vm.min_free_kbytes"] == 45056  # THP rule, see test_watermarks
    assert d["vm.admin_reserve_kbytes"] == 8192  # min(1048576/32, 8192)
    assert d["vm.user_reserve_kbytes"] == 32768  # min(1048576/32, 131072)
    fixed = {name: value for name, value in d.items() if SYSCTLS[name].default is not None}
    assert fixed == {
        "vm.overcommit_memory": 0,
        "vm.overcommit_ratio": 50,
        "vm.overcommit_kbytes": 0,
        "vm.swappiness": 60,
        "vm.watermark_scale_factor": 10,
        "vm.lowmem_reserve_ratio": (256, 256, 32, 0, 0),
        "vm.panic_on_oom": 0,
        "vm.oom_kill_allocating_task": 0,
        "vm.oom_dump_tasks": 1,
        "vm.drop_caches": 0,
        "vm.vfs_cache_pressure": 100,
        "vm.vfs_cache_pressure_denom": 100,
        "vm.dirty_ratio": 20,
        "vm.dirty_background_ratio": 10,
        "vm.dirty_bytes": 0,
        "vm.dirty_background_bytes": 0,
        "vm.dirty_expire_centisecs": 3000,
        "vm.dirty_writeback_centisecs": 500,
        "vm.page-cluster": 3,
        "vm.max_map_count": 65530,
    }
    never = sysctl_defaults(MachineConfig(ram_mib=1024).zone_pages(), "never", free_pages=65536)
    assert never["vm.min_free_kbytes"] == 4083
    assert (never["vm.admin_reserve_kbytes"], never["vm.user_reserve_kbytes"]) == (8192, 8192)


def test_round_trip():
    cfg = MachineConfig(
        zones={"DMA": 3840, "DMA32": 100000, "Normal": 200000},
        swap=[SwapDevice(512), SwapDevice(1024, priority=10)],
        sysctl={
            "vm.swappiness": 10,
            "vm.lowmem_reserve_ratio": [1, 2, 3, 0, -1],
            "vm.overcommit_kbytes": 2**64 - 1,
        },
        thp="never",
        tick_ms=5,
        seed=2**63 - 1,
    )
    d = cfg.to_dict()
    plain = (type(None), bool, int, str, list, dict)

    def check_plain(x):
        assert isinstance(x, plain), x
        for v in x.values() if isinstance(x, dict) else x if isinstance(x, list) else ():
            check_plain(v)

    check_plain(d)
    assert d["sysctl"]["vm.lowmem_reserve_ratio"] == [1, 2, 3, 0, 0]
    assert MachineConfig.from_dict(d) == cfg
    simple = MachineConfig(ram_mib=2048)
    assert MachineConfig.from_dict(simple.to_dict()) == simple


@pytest.mark.parametrize(
    "d, err, words",
    [
        ({"ram_mib": 64, "colour": "red"}, errno.EINVAL, ("unknown MachineConfig field", "colour")),
        ([("ram_mib", 64)], errno.EINVAL, ("MachineConfig dict",)),
        ({"ram_mib": 64, "swap": [{"size": 1}]}, errno.EINVAL, ("size_mib",)),
        ({"ram_mib": 64, "swap": [{"size_mib": 0}]}, errno.EINVAL, ("swap size_mib=0",)),
        ({"ram_mib": 64, "swap": 5}, errno.EINVAL, ("swap must be a list",)),
        ({"ram_mib": 64.5}, errno.EINVAL, ("ram_mib", "float")),
        ({"ram_mib": 64, "sysctl": {"vm.nope": 1}}, errno.ENOENT, ("no such sysctl: vm.nope",)),
    ],
)
def test_from_dict_validates(d, err, words):
    with raises(err, *words):
        MachineConfig.from_dict(d)


def test_numpy_ints_accepted_and_stored_as_int():
    np = pytest.importorskip("numpy")
    cfg = MachineConfig(ram_mib=np.int64(64), swap=[SwapDevice(np.int32(8), np.int16(3))],
                        sysctl={"vm.swappiness": np.uint8(5)}, seed=np.uint64(7))
    assert type(cfg.ram_mib) is int and type(cfg.seed) is int
    assert type(cfg.swap[0].size_mib) is int and type(cfg.swap[0].priority) is int
    assert type(cfg.sysctl["vm.swappiness"]) is int
