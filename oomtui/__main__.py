"""The ``oomtui`` command (also ``python -m oomtui``)."""

from __future__ import annotations

import argparse
import errno
import os
import sys

from oomtui import __version__

COMMANDS = ("play", "meminfo", "bench")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oomtui",
        usage="oomtui [-h] [--version] [SCENARIO.toml | COMMAND ...]",
        description=(
            "A terminal, game-style simulator of Linux memory management: spawn "
            "processes, map and touch memory, and watch page faults, reclaim, swap "
            "and the OOM killer respond, with the kernel's own formulas. "
            "Without arguments it opens the app on the default scenario; "
            "`oomtui PATH` opens a scenario file (same as `oomtui play PATH`)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    play = sub.add_parser(
        "play",
        help="open the app on a scenario (the default one without PATH)",
        description="Open the Textual app on a scenario TOML file, or on the built-in "
                    "default scenario without one.",
    )
    play.add_argument("path", nargs="?", metavar="PATH", help="a scenario .toml file")
    play.add_argument("--paused", action="store_true", help="start paused")
    play.add_argument("--speed", type=float, default=1, metavar="X",
                      help="simulated seconds per second: 0.1 … 64 (default: %(default)s)")
    play.set_defaults(run=_cmd_play)

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
                    "1,000 processes, and the step-time ratio of a 64 GiB to a 1 GiB machine.",
    )
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.set_defaults(run=_cmd_bench)
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
    scenario = None
    if args.path is not None:
        from oomtui.scenarios import load

        if not args.path.endswith(".toml"):
            raise OSError(errno.EINVAL, f"{args.path}: not a scenario file (.toml); "
                                        "save files cannot be opened yet")
        scenario = load(args.path)
    from oomtui.tui.app import make_app

    make_app(scenario, paused=args.paused, speed=args.speed).run()
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import json

    from oomtui import bench

    report = bench.run_all()
    print(json.dumps(report, indent=2) if args.json else bench.format_report(report))
    return 0


def _describe(err: OSError) -> str:
    """One line for an engine error: its message and the errno's name."""
    message = err.strerror or str(err)
    name = errno.errorcode.get(err.errno) if err.errno else None
    return f"{message} ({name})" if name else message


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help", "--version"):
        argv = ["play", *argv]  # `oomtui`, `oomtui PATH`, `oomtui --paused` open the app
    args = _build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:
        # The reader went away (`oomtui meminfo | head`): not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:
        # The engine reports bad input like a syscall would; show it, not a traceback.
        print(f"oomtui: {_describe(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
