"""`oomtui replay` and `oomtui save-info`: the event log, the digest check, bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from oomtui import saves
from oomtui.__main__ import main
from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.engine.schema import MAX_TICK

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def save(tmp_path):
    m = Machine(MachineConfig(ram_mib=48, swap=[SwapDevice(size_mib=16)], seed=2))
    m.spawn("leak", oom_score_adj=500, workload="leaker")
    with pytest.raises(OSError):
        m.kill(42)
    m.step(40)
    m.kill(2)
    m.step(5)
    path = tmp_path / "run.oomsave"
    m.save(path, scenario="demo", compress=True)
    return path, m


def test_replay_headless_prints_the_events_and_the_checked_digest(save, capsys):
    path, m = save
    assert main(["replay", str(path), "--headless"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"replaying {path}: 48 MiB RAM, 16 MiB swap, seed 2, 10 ms ticks, "
                      "5 inputs, to tick 45")
    assert out[1:5] == ["      0.00s  spawn     init started",
                        "      0.00s  swapon    Adding 16380k swap on swap0. Priority:-2",
                        "      0.00s  spawn     leak[2] started",
                        "      0.40s  kill      leak[2] killed by signal 9"]
    assert out[-1] == f"tick 45 (0.45 s), digest {m.state_digest()} (equal to the saved one)"


def test_replay_that_ends_elsewhere_is_an_error(save, capsys):
    path, _ = save

    def other(state):  # a state its calls do not lead to: init's oom_score_adj is 0 after them
        state["procs"][0]["oom_score_adj"] = 5

    _with_state(path, other)
    assert main(["replay", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("oomtui: ") and "the replay ended at tick 45 with digest" in err


def test_save_info(save, capsys):
    path, m = save
    assert main(["save-info", str(path)]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert rows["scenario"] == "demo"
    assert rows["tick"] == "45 (0.45 s)"
    assert rows["processes"] == "1: init[1]"
    assert rows["inputs"] == "5 calls, 1 refused"
    assert rows["digest"] == f"{m.state_digest()} (the loaded state's)"
    assert rows["format"].startswith(f"oomtui-save {saves.VERSION},")


def test_replay_without_headless_opens_the_app_on_the_saves_calls(save, capsys, monkeypatch):
    import oomtui.tui.app

    path, m = save
    opened = []

    class App:
        return_code = 0

        def run(self):
            opened.append("run")

    monkeypatch.setattr(oomtui.tui.app, "make_app", lambda scenario: opened.append(scenario) or App())
    assert main(["replay", str(path)]) == 0
    scenario, ran = opened
    assert ran == "run" and scenario.name == "demo" and scenario.config == m.config
    assert [(c.tick, c.name) for c in scenario.calls] == [(0, "spawn"), (0, "kill"), (40, "kill")]
    assert capsys.readouterr().out == ""  # checked quietly, then shown


def _with_state(path: Path, change) -> None:
    """Rewrite the save at `path` with change(state) applied: the header still fits the body."""
    meta, state = saves.read(path)
    change(state)
    saves.write(path, state, meta)


@pytest.mark.parametrize("command", ["replay", "save-info"])
def test_a_save_whose_state_is_bad_is_named(save, capsys, command):
    path, _ = save
    _with_state(path, lambda state: state.update(tick="45"))
    assert main([command, str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"oomtui: {path}: tick must be an int in 0..{MAX_TICK}, got '45'\n"


def test_a_replay_that_diverges_names_the_save(save, capsys):
    path, _ = save

    def lie(state):  # the log says the kill of pid 42 succeeded
        state["inputs"][1]["error"] = None

    _with_state(path, lie)
    assert main(["replay", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"oomtui: {path}: replay diverged at input #1 (kill at tick 0)"), err


@pytest.mark.parametrize("command", ["replay", "save-info"])
def test_bad_files_are_one_line_not_a_traceback(tmp_path, command):
    bad = tmp_path / "bad.oomsave"
    bad.write_bytes(b"\x93\x01\x02")
    for path in (bad, tmp_path / "missing.oomsave"):
        result = subprocess.run([sys.executable, "-m", "oomtui", command, str(path)], cwd=REPO,
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("oomtui: "), result.stderr
        assert str(path) in result.stderr


def test_an_interrupted_replay_says_where_it_stopped(save, capsys, monkeypatch):
    import oomtui.timeline

    path, _ = save

    def interrupted(m, log, tick, calls, progress):
        m.step(3)
        progress(3, tick)
        raise KeyboardInterrupt

    monkeypatch.setattr(oomtui.timeline, "advance", interrupted)
    assert main(["replay", str(path), "--headless"]) == 130
    assert capsys.readouterr().err.endswith(f"oomtui: replay of {path} stopped at tick 3 of 45\n")


def test_a_replay_whose_end_state_does_not_add_up_is_refused(save, capsys, monkeypatch):
    import oomtui.timeline

    path, _ = save
    real = oomtui.timeline.advance

    def corrupting(m, log, tick, calls, progress):
        real(m, log, tick, calls, progress)
        m.lru.size[0, 0] += 1

    monkeypatch.setattr(oomtui.timeline, "advance", corrupting)
    assert main(["replay", str(path), "--headless"]) == 1
    assert "the replay's end state does not add up: memcg 0's LRU list 0 length" in \
        capsys.readouterr().err


def test_the_app_crashing_is_a_failed_exit(monkeypatch):
    import oomtui.tui.app

    class Crashed:
        return_code = 1

        def run(self):
            pass

    monkeypatch.setattr(oomtui.tui.app, "make_app", lambda *a, **kw: Crashed())
    assert main(["play"]) == 1


def test_save_info_refuses_a_state_whose_books_disagree(save, capsys):
    from oomtui.engine.snapshot import array, saved_array

    path, _ = save

    def lie(state):  # in bounds, but the list holds far fewer pages
        size = array(state["arrays"]["lru.size"], "lru.size").copy()
        size[0, 0] = 10**12
        state["arrays"]["lru.size"] = saved_array(size)

    _with_state(path, lie)
    assert main(["save-info", str(path)]) == 1
    assert capsys.readouterr().err.startswith(
        f"oomtui: {path}: the state does not add up: memcg 0's LRU list 0 length: counter "
        "1000000000000 != recount ")
