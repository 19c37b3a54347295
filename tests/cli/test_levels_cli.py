"""`oomtui levels [--json]` and `oomtui play LEVEL [--headless [--moves FILE]]`."""

import json
from pathlib import Path

import pytest

from oomtui.__main__ import main
from oomtui.game.level import TOPICS

SOLUTIONS = Path(__file__).resolve().parents[1] / "game" / "solutions"


def test_levels_json_shape(capsys):
    assert main(["levels", "--json"]) == 0
    levels = json.loads(capsys.readouterr().out)
    assert [lv["id"] for lv in levels[:3]] == ["overcommit", "page-fault", "watermarks"]
    for lv in levels:
        assert set(lv) == {"id", "title", "teaches", "goal", "difficulty"}
        assert set(lv["teaches"]) <= set(TOPICS) and 1 <= lv["difficulty"] <= 5
        assert isinstance(lv["goal"], str) and lv["goal"]


def test_levels_lists_state_and_best(capsys):
    assert main(["levels"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["1", "overcommit", "*", "open"]
    assert lines[1].split()[:4] == ["2", "page-fault", "*", "locked"]


def test_play_headless_with_moves_prints_the_result(capsys):
    assert main(["play", "overcommit", "--headless", "--moves",
                 str(SOLUTIONS / "overcommit.toml")]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "level": "overcommit", "result": "won", "score": 595,
        "reason": "analytics largest mapping 305 MiB (needs 302 MiB)", "tick": 101}


def test_a_lost_level_exits_0_too(capsys):
    assert main(["play", "page-fault", "--headless"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["result"], out["score"], out["tick"]) == ("lost", 0, 1500)


def test_a_level_file_path_plays_too(capsys):
    from oomtui.game.level import BUILTIN_DIR

    assert main(["play", str(BUILTIN_DIR / "01-overcommit.toml"), "--headless"]) == 0
    assert json.loads(capsys.readouterr().out)["level"] == "overcommit"


@pytest.mark.parametrize("args, says", [
    (["play", "nosuch", "--headless"], "no level 'nosuch'"),
    (["play", "--headless"], "--headless needs a level"),
])
def test_bad_level_exits_2_without_a_traceback(capsys, args, says):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_bad_files_exit_2_naming_file_line_and_key(capsys, tmp_path):
    moves = tmp_path / "moves.toml"
    moves.write_text('[[at]]\ntick = 1\ncall = "sysctl"\nargs = ["vm.swappiness"]\n')
    assert main(["play", "overcommit", "--headless", "--moves", str(moves)]) == 2
    assert f"{moves}:4: key `args`: sysctl needs its value" in capsys.readouterr().err
    level = tmp_path / "mine.toml"
    level.write_text('[level]\nid = "Mine"\n')
    assert main(["play", str(level), "--headless"]) == 2
    assert f"{level}:1: key `title`: missing" in capsys.readouterr().err


def test_play_level_opens_the_app_on_it(monkeypatch):
    from oomtui.tui.app import OomApp

    seen = []
    monkeypatch.setattr(OomApp, "run", lambda self: seen.append((self.level, self.scenario)))
    assert main(["play", "watermarks"]) == 0
    (level, scenario), = seen
    assert level.id == "watermarks" and scenario is level.scenario


def test_a_bad_user_level_fails_levels_with_exit_2(capsys):
    from oomtui import paths

    bad = paths.ensure(paths.levels_dir()) / "mine.toml"
    bad.write_text('[level]\nid = "mine"\ntitle = "t"\norder = 1\nbriefing = "b"\n'
                   'time_limit_s = 1\nteaches = ["oom"]\n')
    assert main(["levels", "--json"]) == 2
    assert f"{bad}:7: key `teaches`: unknown topic 'oom'" in capsys.readouterr().err
