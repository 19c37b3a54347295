"""Progress: levels open in order, best scores kept, written atomically, a damaged file set
aside with a warning, the best run kept as a save that replays."""

import json

from gametools import SOLUTIONS

from oomtui import paths
from oomtui.engine import Machine
from oomtui.game import LevelRun, Progress, find_level, load_moves


def test_a_new_player_starts_with_the_first_level_open():
    p = Progress.load()
    assert p.first_start and p.warning == ""
    assert [p.state(i) for i in ("overcommit", "page-fault", "watermarks")] == [
        "open", "locked", "locked"]
    assert p.best("overcommit") is None


def test_a_win_opens_the_next_level_and_keeps_the_best_run():
    lv = find_level("overcommit")
    run = LevelRun(lv)
    run.run_headless(load_moves(SOLUTIONS / "overcommit.toml"))
    p = Progress.load()
    assert p.record(lv, run.score(), run.machine)
    again = Progress.load()
    assert not again.first_start
    assert (again.state("overcommit"), again.state("page-fault")) == ("won", "open")
    assert again.best("overcommit") == 595
    saved = Machine.load(again.best_run("overcommit"))
    assert saved.state_digest() == run.machine.state_digest()
    # a lower score keeps the best one, and the level stays won
    lost = LevelRun(lv)
    lost.run_headless()
    assert not again.record(lv, lost.score(), lost.machine)
    assert Progress.load().best("overcommit") == 595
    assert Progress.load().state("overcommit") == "won"


def test_writes_are_atomic_and_leave_no_temp_files():
    p = Progress.load()
    p.levels["overcommit"] = {"won": True, "best": 10}
    p.save()
    files = sorted(f.name for f in paths.data_dir().iterdir())
    assert files == ["progress.json"]
    assert json.loads(paths.progress_path().read_text())["levels"]["overcommit"]["best"] == 10


def test_a_damaged_file_is_set_aside_with_a_warning():
    paths.ensure(paths.data_dir())
    paths.progress_path().write_text('{"version": 1, "levels": {"x": {"won": "yes"')
    p = Progress.load()
    assert "damaged" in p.warning and "set aside as progress.json.bad-" in p.warning
    assert p.levels == {} and not p.first_start
    assert not paths.progress_path().exists()
    assert len(list(paths.data_dir().glob("progress.json.bad-*"))) == 1
    p.save()  # starting afresh works
    assert Progress.load().warning == ""


def test_a_wrong_shape_is_damage_too():
    paths.ensure(paths.data_dir())
    paths.progress_path().write_text('{"version": 1, "levels": {"x": {"won": true, '
                                     '"best": "high"}}}')
    assert "level 'x'" in Progress.load().warning
