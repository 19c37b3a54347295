"""Memory pressure stall information: /proc/pressure/memory (kernel/sched/psi.c).

`Stalls` keeps the tasks stalled in the kernel (reclaim, compaction, memory.high throttling,
swap-in, dirty throttling) and serves their stall time tick by tick; per tick it reports how
long at least one task was stalled on memory ("some") and how long all non-idle tasks were
("full"). `Psi` keeps the cumulative totals and the kernel's fixed-point running averages,
with the kernel's integer arithmetic:

- Time is kept in ns like sched_clock(); every input is a whole number of µs.
- The averaging clock runs on a fixed grid of psi_period = PSI_FREQ = 2*HZ+1 jiffies (2.001 s at
  HZ=1000, not 2 s). An update runs on the first `account`/`show` at or after the deadline, with
  the real elapsed time as the period, exactly as psi_avgs_work / psi_show run update_averages.
- Pure Python, O(1) per call: a gap of any length is folded by one calc_load_n (O(log n)).
- The per-period sample is a u32 of ns, as in update_averages: more than ~4.29 s of stall between
  two updates wraps. Feed it per tick (engine ticks are at most 1 s), never in one lump.
"""

from __future__ import annotations

from oomtui.engine.constants import HZ

# include/linux/sched/loadavg.h
FSHIFT = 11
FIXED_1 = 1 << FSHIFT
# kernel/sched/psi.c: 1/exp(2s/10s), 1/exp(2s/60s), 1/exp(2s/300s) as fixed point
EXP_10s, EXP_60s, EXP_300s = 1677, 1981, 2034
EXPS = (EXP_10s, EXP_60s, EXP_300s)
NSEC_PER_USEC = 1000
U32_MASK = 0xFFFF_FFFF
SOME, FULL = 0, 1


def psi_period_ns(hz: int = HZ) -> int:
    """psi_init: psi_period = jiffies_to_nsecs(PSI_FREQ), PSI_FREQ = 2*HZ+1 jiffies."""
    return (2 * hz + 1) * (1_000_000_000 // hz)


def calc_load(load: int, exp: int, active: int) -> int:
    # calc_load (loadavg.h): round up only while rising, so 100% reaches 100.00 and idle 0.00
    newload = load * exp + active * (FIXED_1 - exp)
    if active >= load:
        newload += FIXED_1 - 1
    return newload // FIXED_1


def fixed_power_int(x: int, frac_bits: int, n: int) -> int:
    # fixed_power_int (kernel/sched/loadavg.c): x**n in fixed point, rounding every multiply
    result = 1 << frac_bits
    half = 1 << (frac_bits - 1)
    while n:
        if n & 1:
            result = (result * x + half) >> frac_bits
        n >>= 1
        if n:
            x = (x * x + half) >> frac_bits
    return result


def calc_load_n(load: int, exp: int, active: int, n: int) -> int:
    # calc_load_n (kernel/sched/loadavg.c): n periods of the same input in one step
    return calc_load(load, fixed_power_int(exp, FSHIFT, n), active)


def calc_avgs(avg: list[int], missed_periods: int, time: int, period: int) -> None:
    # calc_avgs (psi.c): zeroes for missed periods, then the truncated whole-percent sample
    if missed_periods:
        for i, e in enumerate(EXPS):
            avg[i] = calc_load_n(avg[i], e, 0, missed_periods)
    pct = (time * 100 // period) * FIXED_1
    for i, e in enumerate(EXPS):
        avg[i] = calc_load(avg[i], e, pct)


def load_str(x: int) -> str:
    # psi_show prints "%lu.%02lu" of LOAD_INT(x), LOAD_FRAC(x) (loadavg.h): truncated, not rounded
    return f"{x >> FSHIFT}.{((x & (FIXED_1 - 1)) * 100) >> FSHIFT:02d}"


def _uint(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    return v


class Psi:
    """The system psi_group for the memory resource (PSI_MEM_SOME, PSI_MEM_FULL)."""

    def __init__(self, *, hz: int = HZ):
        if hz not in (100, 250, 300, 1000):
            raise ValueError(f"hz must be one of 100, 250, 300, 1000, got {hz!r}")
        self.hz = hz
        """CONFIG_HZ: sets psi_period = 2*HZ+1 jiffies."""
        self.period_ns = psi_period_ns(hz)
        """psi_period in ns."""
        self.clock_us = 0
        """Latest time seen by account or show (monotonic)."""
        self.last_account_us = 0
        """End of the last accounted interval; the next one starts here."""
        self.total = [0, 0]
        """group->total[PSI_AVGS]: cumulative some/full stall, ns."""
        self.avg_total = [0, 0]
        """group->avg_total: the part of total already fed to the averages, ns."""
        self.avg = [[0, 0, 0], [0, 0, 0]]
        """group->avg: some/full × avg10/60/300, fixed point (FIXED_1 = 1%)."""
        # group_init: the clock starts at boot
        self.avg_last_update = 0
        """ns of the last update_averages."""
        self.avg_next_update = self.period_ns
        """ns deadline of the next update_averages (fixed grid)."""

    def _tick(self, now_us: int) -> None:
        """Advance the clock; run update_averages if a period deadline passed."""
        self.clock_us = now_us
        now = now_us * NSEC_PER_USEC
        if now >= self.avg_next_update:  # psi_avgs_work / psi_show
            self.avg_next_update = self._update_averages(now)

    def _update_averages(self, now: int) -> int:
        # update_averages (psi.c): fixed-grid deadlines, real elapsed time as the period
        psi_period = self.period_ns
        expires = self.avg_next_update
        missed_periods = 0
        if now - expires >= psi_period:
            missed_periods = (now - expires) // psi_period
        avg_next_update = expires + (1 + missed_periods) * psi_period
        period = now - (self.avg_last_update + missed_periods * psi_period)
        self.avg_last_update = now
        for s in (SOME, FULL):
            # u32 sample; overage beyond the period is punted to later periods, not dropped
            sample = (self.total[s] - self.avg_total[s]) & U32_MASK
            if sample > period:
                sample = period
            self.avg_total[s] += sample
            calc_avgs(self.avg[s], missed_periods, sample, period)
        return avg_next_update

    def account(self, now_us: int, some_us: int, full_us: int) -> None:
        """Add the stall of the interval (last account, now_us]; fold a period if one ended."""
        _uint("now_us", now_us)
        _uint("some_us", some_us)
        _uint("full_us", full_us)
        if now_us < self.clock_us:
            raise ValueError(f"time went backwards: {now_us} < {self.clock_us}")
        if full_us > some_us:
            raise ValueError(f"full ({full_us}) > some ({some_us})")
        if some_us > now_us - self.last_account_us:
            raise ValueError(f"some ({some_us}) > elapsed ({now_us - self.last_account_us})")
        # record_times + collect_percpu_times: the totals include stall up to now
        self.total[SOME] += some_us * NSEC_PER_USEC
        self.total[FULL] += full_us * NSEC_PER_USEC
        self.last_account_us = now_us
        self._tick(now_us)

    def show(self, now_us: int) -> dict:
        """psi_show: update the averages if due, then the two lines of /proc/pressure/memory."""
        _uint("now_us", now_us)
        if now_us < self.clock_us:
            raise ValueError(f"time went backwards: {now_us} < {self.clock_us}")
        self._tick(now_us)
        out = {}
        for s, name in ((SOME, "some"), (FULL, "full")):
            a10, a60, a300 = (float(load_str(x)) for x in self.avg[s])
            out[name] = {"avg10": a10, "avg60": a60, "avg300": a300,
                         "total": self.total[s] // NSEC_PER_USEC}
        return out

    def text(self, now_us: int) -> str:
        """The file as the kernel prints it."""
        self.show(now_us)
        return "".join(
            f"{name} avg10={load_str(a[0])} avg60={load_str(a[1])} avg300={load_str(a[2])} "
            f"total={t // NSEC_PER_USEC}\n"
            for name, a, t in (("some", self.avg[SOME], self.total[SOME]),
                               ("full", self.avg[FULL], self.total[FULL])))

    def to_state(self) -> dict:
        """Plain ints and lists, for msgpack saves."""
        return {"hz": self.hz, "clock_us": self.clock_us, "last_account_us": self.last_account_us,
                "total": list(self.total), "avg_total": list(self.avg_total),
                "avg": [list(row) for row in self.avg],
                "avg_last_update": self.avg_last_update, "avg_next_update": self.avg_next_update}

    @classmethod
    def from_state(cls, d: dict) -> Psi:
        p = cls(hz=d["hz"])
        p.clock_us = int(d["clock_us"])
        p.last_account_us = int(d["last_account_us"])
        p.total = [int(x) for x in d["total"]]
        p.avg_total = [int(x) for x in d["avg_total"]]
        p.avg = [[int(x) for x in row] for row in d["avg"]]
        p.avg_last_update = int(d["avg_last_update"])
        p.avg_next_update = int(d["avg_next_update"])
        return p


MEMSTALL = frozenset({"reclaim", "throttled", "swapin"})  # stalls PSI counts as memory stall


class Stalls:
    """Tasks stalled in the kernel (psi_memstall_enter/leave, in whole ticks): each owes stall
    time and runs again once it is served; a tick's stalls feed PSI."""

    def __init__(self):
        self.stalled: set[int] = set()  # pids with stall time to serve

    def stall(self, p, kind: str, us: int) -> None:
        """p stalls for `us` more microseconds in `kind`: "reclaim", "compaction",
        "throttled" (memory.high), "swapin" or "dirty" (balance_dirty_pages)."""
        if p is not None and us > 0:
            p.stall_us += us
            p.stall_kind = kind
            self.stalled.add(p.pid)

    def account(self, procs: dict, runners: dict, psi: Psi, now_us: int, tick_us: int) -> None:
        """Serve one tick of every stalled process's stall and feed PSI: `some` is the longest
        stall served (stalls overlap from the tick's start), `full` the shortest when every
        non-idle process (one with a running workload, or stalled) was stalled."""
        every = self.stalled.issuperset(pid for pid, r in runners.items() if not r.done)
        some, full = 0, tick_us
        for pid in sorted(self.stalled):
            p = procs[pid]
            served = min(p.stall_us, tick_us)
            memstall = served if p.stall_kind in MEMSTALL else 0  # writers wait for I/O instead
            some, full = max(some, memstall), min(full, memstall)
            p.stall_us -= served
            if not p.stall_us:
                self.stalled.discard(pid)
        if not every:
            full = 0
        psi.account(now_us, some, full if some else 0)
