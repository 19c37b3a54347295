"""The ``oomtui`` command (also ``python -m oomtui``)."""

from __future__ import annotations

import argparse
import errno
import os
import sys

from oomtui import __version__

# anything else: play
COMMANDS = ("play", "levels", "meminfo", "bench", "replay", "save-info", "explain", "live", "compare")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oomtui",
        usage="oomtui [-h] [--version] [SCENARIO.toml | LEVEL | COMMAND ...]",
        description=(
            "A terminal, game-style simulator of Linux memory management: spawn "
            "processes, map and touch memory, and watch page faults, reclaim, swap "
            "and the OOM killer respond, with the kernel's own formulas. "
            "Without arguments it opens the app on the default scenario; "
            "`oomtui PATH` opens a scenario file or a save (same as `oomtui play PATH`)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    play = sub.add_parser(
        "play",
        help="open the app on a scenario, a save or a level (the default scenario without PATH)",
        description="Open the Textual app on a scenario TOML file, a save file, a game level "
                    "(its id or its file), or on the built-in default scenario without one. "
                    "--headless plays a level to its end without the app and prints the result "
                    "as JSON.",
    )
    play.add_argument("path", nargs="?", metavar="PATH",
                      help="a scenario .toml file, a save (.oomsave), or a level's id or file")
    play.add_argument("--paused", action="store_true", help="start paused")
    play.add_argument("--speed", type=float, default=1, metavar="X",
                      help="simulated seconds per second: 0.1 … 64 (default: %(default)s)")
    play.add_argument("--headless", action="store_true",
                      help="play the level to its end without the app; print JSON: level, "
                           "result (won or lost), score, reason, tick")
    play.add_argument("--moves", metavar="FILE",
                      help="with --headless: the calls to make, as [[at]] tables (tick, call, "
                           "args, kwargs) like a scenario's")
    play.set_defaults(run=_cmd_play)

    levels = sub.add_parser(
        "levels",
        help="list the game's levels: built-in, then your own",
        description="List the levels in campaign order with their state (locked, open, won) "
                    "and best score; your own levels are read from the data dir's levels/.",
    )
    levels.add_argument("--json", action="store_true",
                        help="print id, title, teaches, goal and difficulty of each as JSON")
    levels.set_defaults(run=_cmd_levels)

    meminfo = sub.add_parser(
        "meminfo",
        help="boot a simulated machine and print its /proc/meminfo",
        description="Boot a simulated machine and print its /proc/meminfo, in the kernel's format.",
    )
    meminfo.add_argument("--ram-mib", type=int, default=4096, metavar="N",
                         help="RAM size in MiB (default: %(default)s)")
    meminfo.add_argument("--swap-mib", type=int, default=0, metavar="N",
                         help="size of one swap device in MiB; 0 for none (default: %(default)s)")
    meminfo.set_defaults(run=_cmd_meminfo)

    bench = sub.add_parser(
        "bench",
        help="measure how fast the engine simulates on this machine",
        description="Simulated faults/s with and without reclaim, the idle tick cost with "
                    "1,000 processes, the step-time ratio of a 64 GiB to a 1 GiB machine, the "
                    "main screen's frame time, saves, and the app's cold and warm starts: "
                    "each the median of several runs, with min and max.",
    )
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument("--compile", action="store_true",
                       help="measure only the app's starts: cold (an empty cache: the first "
                            "run compiles the engine) and warm")
    bench.add_argument("--runs", type=int, default=3, metavar="N",
                       help="runs of each measurement: the median is reported, with min and "
                            "max (default: %(default)s)")
    bench.set_defaults(run=_cmd_bench)

    replay = sub.add_parser(
        "replay",
        help="re-run a save from its recorded start and print what happened",
        description="Boot the save's machine and make every recorded call again; the final "
                    "state digest must equal the saved one. Then the app shows the run from "
                    "boot (--headless: print its events and the digest instead).",
    )
    replay.add_argument("save", metavar="SAVE", help="a save file")
    replay.add_argument("--headless", action="store_true",
                        help="print the event log and the final digest instead of showing "
                             "the run in the app")
    replay.set_defaults(run=_cmd_replay)

    save_info = sub.add_parser(
        "save-info",
        help="describe a save file and check that it loads",
        description="Print a save's scenario, tick, machine, processes and inputs; load it "
                    "fully to check it.",
    )
    save_info.add_argument("save", metavar="SAVE", help="a save file")
    save_info.set_defaults(run=_cmd_save_info)

    explain = sub.add_parser(
        "explain",
        help="explain a real kernel OOM report: who was killed, why, and the engine's choice",
        description="Read a kernel OOM report as pasted from dmesg, dmesg -T, journalctl -k or "
                    "syslog (kernels 4.19 to 6.18; global, memcg and sysrq OOMs), rebuild that "
                    "moment as a machine and let the engine choose the victim again. Without "
                    "--json the app opens on that machine, the OOM screen first.",
    )
    explain.add_argument("file", metavar="FILE", help="a file holding the report; - reads stdin")
    explain.add_argument("--index", type=int, default=-1, metavar="N",
                         help="which report of several: 0 the first, -1 the last (default)")
    explain.add_argument("--json", action="store_true",
                         help="print the trigger, constraint, totalpages, the kernel's and the "
                              "engine's victim and every task's terms as JSON")
    explain.add_argument("--ram-kb", type=int, metavar="KB",
                         help="MemTotal, when the report does not print the RAM size")
    explain.add_argument("--swap-kb", type=int, metavar="KB",
                         help="SwapTotal, when the report does not print it (a memcg OOM)")
    explain.set_defaults(run=_cmd_explain)

    live = sub.add_parser(
        "live",
        help="import this machine (/proc) and open it, paused, to play what-ifs",
        description="Read a snapshot of this Linux machine from /proc and /sys/fs/cgroup (RAM, "
                    "zones, swap, vm sysctls, every process's memory, oom_score_adj and cgroup) "
                    "and rebuild it as a simulated machine whose oom_score equals the kernel's. "
                    "Nothing on this machine is changed.",
    )
    live.add_argument("--json", action="store_true",
                      help="print meminfo, the processes with their oom_score and the predicted "
                           "OOM kill order with each badness term, as JSON")
    live.add_argument("--root", default="/proc", metavar="DIR",
                      help="a directory laid out like /proc (default: %(default)s)")
    live.add_argument("--cgroup-root", default="/sys/fs/cgroup", metavar="DIR",
                      help="where cgroup v2 (or v1's memory hierarchy) is (default: %(default)s)")
    live.set_defaults(run=_cmd_live)

    compare = sub.add_parser(
        "compare",
        help="run a scenario under several OOM policies and compare who was killed",
        description="Run the scenario (same seed and calls) under each OOM policy, in "
                    "parallel, and print one table: who was killed, by whom, when, the memory "
                    "freed, the PSI stall time before the first kill, and whether the "
                    "processes the scenario marks important survived.",
    )
    compare.add_argument("scenario", metavar="SCENARIO",
                         help="a scenario .toml file or a built-in scenario's name")
    compare.add_argument("--policies", default="kernel,earlyoom,systemd-oomd,nohang",
                         metavar="P,P,...", help="the policies to compare (default: %(default)s)")
    compare.add_argument("--set", action="append", default=[], metavar="POLICY.SETTING=VALUE",
                         help="change a policy's setting, e.g. earlyoom.mem_term_percent=15 "
                              "(repeatable)")
    compare.add_argument("--seconds", type=float, default=120, metavar="S",
                         help="simulated seconds each run lasts (default: %(default)s)")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.set_defaults(run=_cmd_compare)
    return parser


def _format_meminfo(meminfo: dict[str, int]) -> str:
    # As fs/proc/meminfo.c prints it; the HugePages_* lines are page counts, not kB.
    lines = []
    for key, value in meminfo.items():
        unit = "" if key.startswith("HugePages_") else " kB"
        lines.append(f"{key + ':':<16}{value:>8}{unit}")
    return "\n".join(lines)


def _cmd_meminfo(args: argparse.Namespace) -> int:
    # Imported here so that --help and --version never pay for numba.
    from oomtui.engine import Machine, MachineConfig, SwapDevice

    swap = [SwapDevice(size_mib=args.swap_mib)] if args.swap_mib else []
    machine = Machine(MachineConfig(ram_mib=args.ram_mib, swap=swap))
    print(_format_meminfo(machine.meminfo()))
    return 0


def _cmd_play(args: argparse.Namespace) -> int:
    from oomtui.tui.sim import SPEEDS

    if args.speed not in SPEEDS:
        raise OSError(errno.EINVAL, f"speed {args.speed:g} is not one of "
                                    f"{', '.join(f'{s:g}' for s in SPEEDS)}")
    if args.headless or args.moves is not None or _names_level(args.path):
        return _play_level(args)
    scenario = None
    if args.path is not None and args.path.endswith(".toml"):
        from oomtui.scenarios import load

        scenario = load(args.path)
    elif args.path is not None:  # a save: SaveError says so if it is not one
        from oomtui.tui.sim import SaveStart

        scenario = SaveStart.read(args.path)
    from oomtui.tui.app import make_app

    # the plain `oomtui` of a newcomer offers the welcome; a file opened on purpose does not
    return _run_app(make_app(scenario, paused=args.paused, speed=args.speed,
                             welcome=args.path is None))


def _names_level(path: str | None) -> bool:
    """PATH is a level: a level's id (no file of that name), or a .toml file with [level]."""
    import re

    if path is None:
        return False
    if not os.path.exists(path):
        return re.fullmatch(r"[a-z0-9-]+", path) is not None
    from oomtui.game.level import is_level_file

    return path.endswith(".toml") and is_level_file(path)


def _play_level(args: argparse.Namespace) -> int:
    """A level in the app, or headless (a bad level or moves file: exit 2)."""
    import json

    from oomtui.engine.compiler import compile_all
    from oomtui.game import LevelRun, find_level, load_moves

    if args.path is None:
        return _bad_input("--headless needs a level: its id (`oomtui levels` lists them) or "
                          "its file")
    if args.moves is not None and not args.headless:
        return _bad_input("--moves is for --headless play")
    try:
        level = find_level(args.path)
        moves = load_moves(args.moves) if args.moves is not None else ()
    except OSError as err:
        return _bad_input(_describe(err))
    if not args.headless:
        from oomtui.tui.app import make_app

        return _run_app(make_app(level, paused=args.paused, speed=args.speed))
    compile_all()
    print(json.dumps(LevelRun(level).run_headless(moves)))
    return 0


def _bad_input(message: str) -> int:
    print(f"oomtui: {message}", file=sys.stderr)
    return 2


def _cmd_levels(args: argparse.Namespace) -> int:
    import json

    from oomtui.game import Progress, all_levels

    try:
        levels = all_levels()
    except OSError as err:
        return _bad_input(_describe(err))
    if args.json:
        print(json.dumps([{"id": lv.id, "title": lv.title, "teaches": list(lv.teaches),
                           "goal": lv.goal_text, "difficulty": lv.difficulty}
                          for lv in levels], indent=1))
        return 0
    progress = Progress.load()
    if progress.warning:
        print(f"oomtui: {progress.warning}", file=sys.stderr)
    for lv in levels:
        best = progress.best(lv.id)
        print(f"{lv.order:>3}  {lv.id:<18} {'*' * lv.difficulty:<5} "
              f"{progress.state(lv.id):<6} {'-' if best is None else best:>5}  {lv.title}")
    return 0


def _run_app(app) -> int:
    """Run the Textual app; its exit status (1 after a crash, which it has shown)."""
    app.run()
    return app.return_code or 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import json

    from oomtui import bench

    if not 1 <= args.runs <= 100:
        raise OSError(errno.EINVAL, f"--runs must be from 1 to 100, got {args.runs}")
    if args.compile:
        report = {"cold_start": bench.start_times(args.runs, cold=True),
                  "warm_start": bench.start_times(args.runs, cold=False)}
        text = bench.format_starts
    else:
        report, text = bench.run_all(args.runs), bench.format_report
    print(json.dumps(report, indent=2) if args.json else text(report))
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    import time

    from oomtui import saves
    from oomtui.engine import Machine
    from oomtui.engine.compiler import compile_all
    from oomtui.engine.inputs import ReplayError
    from oomtui.engine.invariants import BrokenInvariant, check_invariants
    from oomtui.timeline import advance, calls_in

    meta, m = Machine.read_save(args.save)  # the whole save is checked before anything is re-run
    if args.headless:
        compile_all()
    fresh = Machine(m.config)
    inputs = m.inputs.entries
    if args.headless:
        print(f"replaying {args.save}: {_machine_line(m.config)}, {len(inputs)} inputs, "
              f"to tick {m.tick}")
    shown, shown_at = 0, time.monotonic()

    def show(done: int, total: int) -> None:
        nonlocal shown, shown_at
        if args.headless:
            for e in fresh.events[shown:]:
                print(_event_line(e, m.config.tick_ms))
        shown = len(fresh.events)
        if sys.stderr.isatty() and time.monotonic() - shown_at >= 0.5:
            shown_at = time.monotonic()
            print(f"\rreplaying: tick {fresh.tick} of {m.tick} ({100 * done // max(total, 1)} %), "
                  "Ctrl-C stops", end="", file=sys.stderr, flush=True)

    try:
        advance(fresh, inputs, m.tick, calls_in(inputs), show)
        show(1, 1)
        check_invariants(fresh)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"replay of {args.save} stopped at tick {fresh.tick} of "
                                f"{m.tick}") from None
    except ReplayError as e:
        raise ReplayError(f"{args.save}: {e}") from None
    except BrokenInvariant as e:
        raise saves.SaveError(f"{args.save}: the replay's end state does not add up: {e}") from None
    finally:
        if sys.stderr.isatty():
            print("\r\033[K", end="", file=sys.stderr, flush=True)
    digest, saved = fresh.state_digest(), m.state_digest()  # the state the file holds
    if digest != saved or fresh.tick != m.tick:
        raise saves.SaveError(f"{args.save}: the replay ended at tick {fresh.tick} with digest "
                              f"{digest[:16]}…, the save is at tick {m.tick} with "
                              f"{saved[:16]}…")
    if args.headless:
        print(f"tick {fresh.tick} ({_seconds(fresh.tick, m.config.tick_ms)}), digest {digest} "
              "(equal to the saved one)")
        return 0
    from pathlib import Path

    from oomtui.scenarios import from_inputs
    from oomtui.tui.app import make_app

    name = meta["scenario"] or Path(args.save).stem
    # checked first: it ends where saved
    return _run_app(make_app(from_inputs(name, m.config, inputs)))


def _cmd_save_info(args: argparse.Namespace) -> int:
    from oomtui import saves
    from oomtui.engine import Machine

    header = saves.read_header(args.save)
    meta, m = header["meta"], Machine.load(args.save)
    info = saves.info(args.save)
    refused = sum(e.error is not None for e in m.inputs.entries)
    procs = ", ".join(f"{p.comm}[{p.pid}]" for p in m.procs.values())
    rows = [
        ("file", f"{args.save} ({info.size >> 10} KiB{', zlib' if info.compressed else ''})"),
        ("format", f"{header['format']} {header['version']}, written by oomtui {meta['oomtui']}"),
        ("scenario", meta["scenario"] or "-"),
        ("saved", f"{info.saved_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("tick", f"{m.tick} ({_seconds(m.tick, m.config.tick_ms)})"),
        ("machine", _machine_line(m.config) + (f", panicked: {m.panicked}" if m.panicked else "")),
        ("processes", f"{len(m.procs)}: {procs}"),
        ("workloads", ", ".join(f"{r.program.name}[{pid}] {r.state}" for pid, r in m.runners.items())
         or "-"),
        ("inputs", f"{len(m.inputs.entries)} calls, {refused} refused"),
        ("events", str(len(m.events))),
        ("digest", _digest_line(header, m.state_digest())),
    ]
    for key, value in rows:
        print(f"{key:<10} {value}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    import json

    from oomtui.engine.compiler import compile_all
    from oomtui.realworld.explain import explain
    from oomtui.realworld.oom_report import read_reports

    if args.file == "-":
        text, name = sys.stdin.read(), "stdin"
    else:
        with open(args.file, encoding="utf-8", errors="replace") as f:
            text, name = f.read(), args.file
    try:
        reports = read_reports(text)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    if not -len(reports) <= args.index < len(reports):
        raise OSError(errno.EINVAL, f"{name} holds {len(reports)} OOM report(s): --index takes "
                                    f"0..{len(reports) - 1}, or -1 for the last")
    kb = lambda v: None if v is None else v // 4  # noqa: E731
    compile_all()  # the rebuilt machine runs the engine before the app opens
    ex = explain(reports[args.index], ram_pages=kb(args.ram_kb), swap_pages=kb(args.swap_kb))
    for line in ex.missing:
        print(f"oomtui: missing: {line}", file=sys.stderr)
    for line in ex.notes:
        print(f"oomtui: note: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(ex.to_json(), indent=2))
        return 0
    from oomtui.realworld.app import explain_app

    return _run_app(explain_app(ex, text))


def _cmd_live(args: argparse.Namespace) -> int:
    import json

    from oomtui.engine.compiler import compile_all
    from oomtui.realworld.live import live, summary

    compile_all()  # this box is rebuilt by running the engine, before the app opens
    rebuilt, meminfo = live(args.root, args.cgroup_root)
    for line in rebuilt.notes:
        print(f"oomtui: note: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary(rebuilt, meminfo), indent=2))
        return 0
    from oomtui.realworld.app import live_app

    return _run_app(live_app(rebuilt))


def _digest_line(header: dict, loaded: str) -> str:
    """The header's digest, and whether the loaded state has it. A save of an older format
    version has the digest of that version's state, which held or hashed more (saves.UPGRADES)."""
    from oomtui import saves

    saved = header["meta"]["digest"]
    if saved == loaded:
        return f"{saved} (the loaded state's)"
    if header["version"] < saves.VERSION:
        return (f"{loaded} (the loaded state's; the header's {saved[:16]}… is of format "
                f"version {header['version']}'s state)")
    return f"{saved} (the loaded state differs: saved by another engine?)"


def _machine_line(config) -> str:
    swap = sum(d.size_mib for d in config.swap)
    ram = sum(config.zone_pages()) >> 8
    return (f"{ram} MiB RAM, {f'{swap} MiB swap' if swap else 'no swap'}, seed {config.seed}, "
            f"{config.tick_ms} ms ticks")


def _cmd_compare(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from oomtui import compare, scenarios

    path = Path(args.scenario)
    if not path.suffix and args.scenario in scenarios.builtin_names():
        path = scenarios.BUILTIN_DIR / f"{args.scenario}.toml"
    scenario = scenarios.load(path)  # a bad file fails here, naming the key, before any run
    if not 0 < args.seconds <= 3600:
        raise OSError(errno.EINVAL, f"--seconds must be from 0 to 3600, got {args.seconds:g}")
    policies = compare.parse_policies(args.policies, args.set)
    result = compare.compare(str(path), policies, args.seconds)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(compare.table(result, scenario.important, scenario.config.tick_ms))
    return 0


def _seconds(tick: int, tick_ms: int) -> str:
    return f"{tick * tick_ms / 1000:.2f} s"


def _event_line(e, tick_ms: int) -> str:
    return f"{e.tick * tick_ms / 1000:10.2f}s  {e.kind:<9} {e.message}"


def _describe(err: OSError) -> str:
    """One line for an engine error: its message and the errno's name."""
    name = errno.errorcode.get(err.errno) if err.errno else None
    message = err.strerror or str(err) or name or type(err).__name__
    return f"{message} ({name})" if name and name != message else message


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help", "--version"):
        argv = ["play", *argv]  # `oomtui`, `oomtui PATH`, `oomtui --paused` open the app
    args = _build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt as stop:
        print(f"\noomtui: {stop or 'interrupted'}", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports it
    except BrokenPipeError:
        # The reader went away (`oomtui meminfo | head`): not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:
        # The engine reports bad input like a syscall would; show it, not a traceback.
        print(f"oomtui: {_describe(err)}", file=sys.stderr)
        return 1
    except ValueError as err:  # a file that is not a valid save, or a replay that diverged
        print(f"oomtui: {err or type(err).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
