"""The end screen's account of a level run, in kernel terms and this run's numbers: the
watermarks and when they were crossed, reclaim and swap, who the OOM killer chose and why,
the player's moves, and what doing nothing would have led to."""

from __future__ import annotations

from collections.abc import Mapping

from oomtui.kill_sentence import kill_sentence

SHOWN_KILLS = 3  # the end screen tells this many kills in full


def _mib(pages: int) -> str:
    return f"{pages * 4 / 1024:.1f} MiB"


def _zone(zones: dict) -> tuple[str, dict]:
    """The zone most of the memory is in (where the watermarks matter)."""
    return max(zones.items(), key=lambda kv: kv[1]["managed"])


def _outcome(run) -> str:
    st, w = run.status, run.watch
    verb = {"won": "Won", "lost": "Lost"}.get(st.state, "Still playing")
    limit = f"{run.level.time_limit_s:g} s"
    return f"{verb} at {w.seconds(st.tick)} (tick {st.tick}) of {limit}: {st.reason}."


def _watermarks(run) -> str:
    w, m = run.watch, run.machine
    if w.kswapd_woke is None:
        name, z = _zone(m.zoneinfo())
        marks = (f"The watermarks of zone {name} are min {z['min']}, low {z['low']}, high "
                 f"{z['high']} pages ({_mib(z['min'])}, {_mib(z['low'])}, {_mib(z['high'])}).")
        if w.direct_reclaim is not None:
            return (f"kswapd0 never got to run: allocations went past the low watermark and "
                    f"into direct reclaim within one tick. {marks}")
        return f"Free memory never fell to the low watermark: kswapd0 slept through the run. {marks}"
    name, z = _zone(w.kswapd_woke.facts["zones"])
    return (f"At {w.seconds(w.kswapd_woke.tick)} (tick {w.kswapd_woke.tick}) free pages in zone "
            f"{name} fell under its low watermark, {z['low']} pages ({_mib(z['low'])}): kswapd0 "
            f"woke to reclaim in the background until the zone is back above high "
            f"({z['high']} pages, {_mib(z['high'])}); at the end of that tick {z['free']} "
            f"pages were free. Below min ({z['min']} pages, {_mib(z['min'])}) allocating tasks "
            f"must reclaim by themselves.")


def _reclaim(run) -> str:
    w, vm = run.watch, run.machine.vmstat()
    kswapd = f"kswapd scanned {vm['pgscan_kswapd']} pages and freed {vm['pgsteal_kswapd']}"
    if w.direct_reclaim is None:
        if not vm["pgscan_kswapd"]:
            return "No page was reclaimed: neither kswapd nor any task had to."
        return f"No task ever entered direct reclaim: {kswapd}, keeping ahead of the demand."
    name, z = _zone(w.direct_reclaim.facts["zones"])
    said = (f"At {w.seconds(w.direct_reclaim.tick)} allocations had driven zone {name} under "
            f"its min watermark ({z['min']} pages, {_mib(z['min'])}) and reclaimed by "
            f"themselves (direct reclaim; allocstall {vm['allocstall']}), "
            f"{vm['pgscan_direct']} pages scanned by allocating tasks, while {kswapd}.")
    if w.longest_stall is not None:
        f = w.longest_stall.facts
        said += (f" The longest stall: {f['comm']}, {f['us'] / 1000:.0f} ms in {f['kind']} at "
                 f"{w.seconds(w.longest_stall.tick)}.")
    return said


def _swap_and_stalls(run) -> str:
    w, m = run.watch, run.machine
    vm, psi = m.vmstat(), m.pressure()
    parts = []
    if w.swapped_out is not None:
        parts.append(f"{vm['pswpout']} pages ({_mib(vm['pswpout'])}) went out to swap, the "
                     f"first at {w.seconds(w.swapped_out.tick)}; {vm['pswpin']} came back in "
                     f"as major faults.")
    elif m.meminfo()["SwapTotal"]:
        parts.append("No page went to swap.")
    else:
        parts.append("There was no swap: anonymous pages could not be reclaimed at all.")
    if w.throttles:
        parts.append(f"memory.high throttled tasks {w.throttles} times, {w.throttle_ms} ms in "
                     f"all.")
    parts.append(f"Tasks stalled on memory for {psi['some']['total'] / 1000:.0f} ms in total "
                 f"(PSI some; full: {psi['full']['total'] / 1000:.0f} ms), peak avg10 some "
                 f"{w.max_psi_avg10['some']:.2f}%, full {w.max_psi_avg10['full']:.2f}%.")
    parts.append(f"Committed_AS ended at {w.committed_kb >> 10} MiB of CommitLimit "
                 f"{w.commit_limit_kb >> 10} MiB (vm.overcommit_memory = "
                 f"{m.sysctl('vm.overcommit_memory')}).")
    return " ".join(parts)


def _kills(run) -> list[str]:
    w = run.watch
    if not w.oom_events and not w.kills:
        return ["The OOM killer never ran."]
    said = [f"At {w.seconds(e.tick)}: {kill_sentence(run.machine, e)}."
            for e in w.oom_events[:SHOWN_KILLS]]
    daemon = [k for k in w.kills if not k.by.startswith("the ")]
    said += [f"At {w.seconds(k.tick)}: {k.by} killed {k.comm}." for k in daemon[:SHOWN_KILLS]]
    if len(w.kills) > SHOWN_KILLS:
        said.append(f"{len(w.kills)} processes were killed in all.")
    return said


def _call(e) -> str:
    args = ", ".join([repr(a) for a in e.args] + [f"{k}={v!r}" for k, v in e.kwargs.items()])
    return f"{e.name}({args})"


def _moves(run, baseline: Mapping) -> list[str]:
    w = run.watch
    moves = run.moves_made()
    if not moves:
        return [f"You made no move: this is what doing nothing gives ({baseline['result']})."]
    listed = "; ".join(f"{w.seconds(e.tick)} {_call(e)}" + (
        f" refused: {e.error[2]}" if e.error else "") for e in moves)
    killed = ", ".join(f"{comm} at {w.seconds(tick)}" for comm, tick in baseline["kills"])
    return [f"Your moves: {listed}.",
            f"Doing nothing: {baseline['result']} at {w.seconds(baseline['tick'])}: "
            f"{baseline['reason']}" + (f" (killed: {killed})" if killed else "") +
            f". Your run: {run.status.state}, score {run.score().total} against "
            f"{baseline['score']}."]


def debrief(run, baseline: Mapping) -> list[str]:
    """Paragraphs for the end screen of `run`; `baseline` is the do-nothing run's result."""
    return [_outcome(run), _watermarks(run), _reclaim(run), _swap_and_stalls(run),
            *_kills(run), *_moves(run, baseline)]
