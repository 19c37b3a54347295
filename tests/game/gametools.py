"""Helpers of the game's tests: tiny levels made from a goal, and the solutions' path."""

from pathlib import Path

from oomtui.game import LevelRun
from oomtui.game.level import parse_level, parse_toml

SOLUTIONS = Path(__file__).parent / "solutions"
MIB = 1 << 20


def level(goal: str, *, machine: str = "ram_mib = 128", processes=("app",), limit=2,
          extra: str = ""):
    """A level with this goal on a small machine running `processes` (idle) and `extra`."""
    procs = "".join(f'[[process]]\ncomm = "{c}"\n' for c in processes)
    text = (f'[level]\nid = "t"\ntitle = "t"\norder = 1\nbriefing = "b"\ntime_limit_s = {limit}\n'
            f'[goal]\ntext = "g"\n{goal}\n[machine]\nseed = 1\n{machine}\n{procs}{extra}')
    return parse_level(parse_toml(text, "t.toml"), text, "t.toml")


def play(lv):
    """A run of the level, and its machine."""
    run = LevelRun(lv)
    return run, run.machine


OOM = 'workload = { name = "leak", phases = [{ kind = "alloc", mib = 512, rate_mib_s = 2048 }] }'


def oom_run(goal, sysctl=""):
    """64 MiB without swap; hog leaks 2 GiB/s until the OOM killer takes it."""
    return LevelRun(level(goal, machine=f"ram_mib = 64\n{sysctl}", processes=("app",),
                          extra=f'[[process]]\ncomm = "hog"\n{OOM}\n'))
