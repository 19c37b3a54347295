"""Memory PSI (kernel/sched/psi.c, include/linux/sched/loadavg.h).

Arithmetic used below (FIXED_1 = 2048 = 1.00%, EXP_10s/60s/300s = 1677/1981/2034):
  calc_load(load, e, active) = (load*e + active*(2048-e) + (2047 if active >= load else 0)) // 2048
  a period's input  pct = (stall*100 // period) * 2048          (calc_avgs)
  printed as        f"{x >> 11}.{((x & 2047) * 100) >> 11:02d}" (LOAD_INT/LOAD_FRAC, truncated)
The period is PSI_FREQ = 2*HZ+1 jiffies = 2.001 s at HZ=1000, on a fixed grid 2.001, 4.002, ...;
an update runs at the first call at or after each deadline (here: the next 10 ms tick).
"""

from __future__ import annotations


import msgpack
import pytest

from oomtui.engine import psi
from oomtui.engine.psi import EXPS, FIXED_1, Psi, calc_load, calc_load_n, load_str, psi_period_ns

TICK = 10_000  # µs
S = 1_000_000  # µs per second


def run(p: Psi, t: int, until: int, some: int, full: int) -> int:
    """Account `some`/`full` µs of stall in every 10 ms tick from t to `until`."""
    while t < until:
        t += TICK
        p.account(t, some, full)
    return t


def printed(p: Psi, now: int, kind: str = "some") -> tuple[float, float, float, int]:
    r = p.show(now)[kind]
    return r["avg10"], r["avg60"], r["avg300"], r["total"]


def test_boot_is_all_zero():
    p = Psi()
    zero = {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0}
    assert p.show(0) == {"some": zero, "full": zero}
    assert p.show(5 * S) == {"some": zero, "full": zero}
    assert p.text(5 * S) == ("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                             "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")


def test_psi_period_is_2_hz_plus_1_jiffies():
    assert psi_period_ns(1000) == 2_001_000_000
    assert psi_period_ns(250) == 2_004_000_000
    assert psi_period_ns(100) == 2_010_000_000


def test_ten_seconds_of_full_stall():
    # avg10, pct = 100*2048 = 204800 every period, 204800*(2048-1677) = 75_980_800:
    #   1: (0*1677      + 75_980_800 + 2047) // 2048 = 37100   -> 18.11
    #   2: (37100*1677  + 75_980_800 + 2047) // 2048 = 67480   -> 32.94
    #   3: (67480*1677  + 75_980_800 + 2047) // 2048 = 92356   -> 45.09
    #   4: (92356*1677  + 75_980_800 + 2047) // 2048 = 112726  -> 55.04
    #   5: (112726*1677 + 75_980_800 + 2047) // 2048 = 129406  -> 63.18  (float: 100(1-1/e) = 63.21)
    # avg60 after 4/5 periods: 25514/31380 -> 12.45/15.32; avg300: 5544/6907 -> 2.70/3.37.
    p = Psi()
    t = run(p, 0, 10 * S, TICK, TICK)
    # deadlines 2.001 4.002 6.003 8.004 10.005: at 10.000 s only four periods have been folded
    assert printed(p, t) == (55.04, 12.45, 2.70, 10 * S)
    t = run(p, t, 10_010_000, TICK, TICK)
    assert p.text(t) == ("some avg10=63.18 avg60=15.32 avg300=3.37 total=10010000\n"
                         "full avg10=63.18 avg60=15.32 avg300=3.37 total=10010000\n")
    a = 0
    for _ in range(5):
        a = calc_load(a, EXPS[0], 100 * FIXED_1)
    assert (a, load_str(a)) == (129406, "63.18")


def test_half_stall_for_a_minute():
    # 50% of every tick; deadlines k*2.001 s land on ticks ≤ 60 s for k = 1..29, and each
    # period is exactly half stalled, so 29 × calc_load(., e, 50*2048).
    p = Psi()
    t = run(p, 0, 60 * S, TICK // 2, 0)
    ref = [0, 0, 0]
    for _ in range(29):
        ref = [calc_load(a, e, 50 * FIXED_1) for a, e in zip(ref, EXPS)]
    assert [load_str(x) for x in ref] == ["49.84", "30.94", "9.02"]
    # float 50(1-exp(-58.03/T)) = 49.85, 30.99, 8.79: rising averages round up (active >= load)
    assert printed(p, t) == (49.84, 30.94, 9.02, 30 * S)
    assert printed(p, t, "full") == (0.0, 0.0, 0.0, 0)


def test_full_never_exceeds_some():
    p = Psi()
    t = 0
    for _ in range(5):
        t = run(p, t, t + 2_010_000, TICK, TICK // 4)
        some, full = printed(p, t), printed(p, t, "full")
        assert all(f <= s for f, s in zip(full, some))
    assert printed(p, t) == (63.18, 15.32, 3.37, 10_050_000)
    assert printed(p, t, "full") == (15.79, 3.83, 0.84, 2_512_500)
    with pytest.raises(ValueError):
        p.account(t + TICK, 10, 11)


def test_total_accumulates_exactly():
    p = Psi()
    t, some, full = 0, 0, 0
    for i in range(1, 1000):
        s, f = (i * 7919) % TICK, (i * 104729) % TICK
        s, f = max(s, f), min(s, f)
        t += TICK
        p.account(t, s, f)
        some, full = some + s, full + f
    assert p.show(t)["some"]["total"] == some
    assert p.show(t)["full"]["total"] == full
    p.account(t + 3, 3, 1)  # odd µs, sub-tick interval
    assert (p.show(t + 3)["some"]["total"], p.show(t + 3)["full"]["total"]) == (some + 3, full + 1)


def test_decay_after_pressure_stops():
    p = Psi()
    t = run(p, 0, 10_010_000, TICK, TICK)
    before = printed(p, t)
    t = run(p, t, 30_010_000, 0, 0)
    after = printed(p, t)
    assert before == (63.18, 15.32, 3.37, 10_010_000)
    assert after == (10.45, 11.35, 3.16, 10_010_000)  # avg10 falls fast, avg300 barely moves


def test_missed_periods_fold_in_one_step():
    # update_averages at 70.010 s after the last one at 10.010 s (next deadline 12.006 s):
    # missed = (70.010 - 12.006) // 2.001 = 28, period = 70.010 - (10.010 + 28*2.001) = 3.972 s,
    # sample 0: avg = calc_load(calc_load_n(avg, e, 0, 28), e, 0).
    p = Psi()
    t = run(p, 0, 10_010_000, TICK, TICK)
    avg = list(p.avg[0])
    want = [calc_load(calc_load_n(a, e, 0, 28), e, 0) for a, e in zip(avg, EXPS)]
    assert printed(p, 70_010_000) == (0.20, 5.84, 2.76, 10_010_000)
    assert p.avg[0] == want and p.avg_next_update == 70_035_000_000  # 12.006 + 29*2.001
    # the same minute with a tick every 10 ms decays period by period (29 × calc_load):
    # fixed_power_int rounds differently, one hundredth apart
    q = Psi()
    t = run(q, 0, 10_010_000, TICK, TICK)
    t = run(q, t, 70_010_000, 0, 0)
    assert printed(q, t) == (0.19, 5.83, 2.75, 10_010_000)


def test_huge_idle_gap_is_folded_in_one_step(monkeypatch):
    """calc_avgs decays missed periods with calc_load_n (a power), not period by period: the
    two averages' three windows take one calc_load each for the gap and one for the sample."""
    p = Psi()
    run(p, 0, 10_010_000, TICK, TICK)
    calls = []
    real = psi.calc_load
    monkeypatch.setattr(psi, "calc_load", lambda *a: calls.append(a) or real(*a))
    assert printed(p, 10**15) == (0.0, 0.0, 0.0, 10_010_000)  # ~31.7 years later
    assert len(calls) == 2 * 3 * 2


def test_overage_is_punted_not_dropped():
    # show at 2.001 s folds the 2.000 s of stall seen so far: 200_000 // 2001 = 99% -> 17.93.
    p = Psi()
    t = run(p, 0, 2 * S, TICK, 0)
    assert printed(p, 2_001_000) == (17.93, 3.23, 0.67, 2 * S)
    # at 4.010 s: period 2.009 s, but 2.010 s of stall arrived; 1 ms is carried over
    t = run(p, t, 4_010_000, TICK, 0)
    d = p.to_state()
    assert d["total"][0] - d["avg_total"][0] == 1_000_000  # ns
    assert printed(p, t) == (32.80, 6.40, 1.35, 4_010_000)


def test_sample_is_u32_ns_like_the_kernel():
    # update_averages keeps the sample in a u32 of ns: 5 s fed in one call wraps to
    # 5e9 - 2**32 = 705_032_704 ns; missed = 1, period = 5.000 - 2.001 = 2.999 s -> 23%.
    # (Feed per tick, as the engine does; ticks are ≤ 1 s.)
    p = Psi()
    p.account(5 * S, 5 * S, 0)
    assert load_str(p.avg[0][0]) == load_str(calc_load(calc_load_n(0, EXPS[0], 0, 1), EXPS[0],
                                                       23 * FIXED_1))
    assert printed(p, 5 * S) == (4.16, 0.75, 0.15, 5 * S)


def test_round_trip_keeps_identical_output():
    p = Psi()
    t = run(p, 0, 7_345_000, 6_000, 1_000)
    p.show(t + 2_500)
    q = Psi.from_state(msgpack.unpackb(msgpack.packb(p.to_state())))
    assert q.to_state() == p.to_state()
    for until, s, f in ((9 * S, TICK, TICK), (15 * S, 3_000, 0), (20 * S, 0, 0)):
        t0 = max(t, p.clock_us)
        t = run(p, t0, until, s, f)
        assert run(q, t0, until, s, f) == t
        assert p.text(t) == q.text(t) and p.to_state() == q.to_state()


@pytest.mark.parametrize("call", [
    lambda p: p.account(p.clock_us + TICK, TICK + 1, 0),  # some > elapsed
    lambda p: p.account(p.clock_us + TICK, 5, 6),  # full > some
    lambda p: p.account(p.clock_us + TICK, -1, 0),
    lambda p: p.account(p.clock_us + TICK, 1.5, 0),
    lambda p: p.account(p.clock_us + TICK, True, 0),
    lambda p: p.show(-1),
])
def test_bad_calls_raise_and_change_nothing(call):
    p = Psi()
    run(p, 0, 3 * S, TICK, 0)
    before = p.to_state()
    with pytest.raises(ValueError):
        call(p)
    assert p.to_state() == before


def test_time_cannot_go_backwards():
    p = Psi()
    p.show(5 * S)
    with pytest.raises(ValueError):
        p.account(4 * S, 0, 0)
    with pytest.raises(ValueError):
        p.show(4 * S)
    p.account(5 * S, 5 * S, 0)  # the interval still starts at the last account (boot)
