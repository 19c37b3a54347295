"""A bad level file is an OSError(EINVAL) naming the file, the line and the key at fault."""

import errno

import pytest

from oomtui import paths
from oomtui.game import all_levels, builtin_levels, find_level, load_level, user_levels
from oomtui.game.level import TOPICS

GOOD = '''\
name = "tiny"
[level]
id = "tiny"
title = "A tiny level"
order = 1
difficulty = 2
teaches = ["swap"]
briefing = "Keep app alive."
time_limit_s = 1
hints = ["one"]
[goal]
text = "app alive"
alive = ["app"]
[machine]
ram_mib = 64
[[process]]
comm = "app"
'''


def write(tmp_path, text, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path) -> str:
    with pytest.raises(OSError) as e:
        load_level(path)
    assert e.value.errno == errno.EINVAL
    return str(e.value.strerror)


def test_a_good_level_loads(tmp_path):
    lv = load_level(write(tmp_path, GOOD))
    assert (lv.id, lv.title, lv.order, lv.difficulty) == ("tiny", "A tiny level", 1, 2)
    assert lv.teaches == ("swap",) and lv.hints == ("one",) and lv.goal_text == "app alive"
    assert lv.end_tick == 100  # 1 s of 10 ms ticks
    assert lv.scenario.processes[0]["comm"] == "app"


@pytest.mark.parametrize("old, new, line, key, says", [
    # syntax: tomllib's own line
    ('title = "A tiny level"', 'title = "A tiny level', 4, None, "invalid TOML"),
    # an unknown key in [level]
    ('difficulty = 2', 'dificulty = 2', 6, "dificulty", "unknown key"),
    # a wrong type
    ('order = 1', 'order = "first"', 5, "order", "must be an int"),
    ('time_limit_s = 1', 'time_limit_s = -1', 9, "time_limit_s", "number of seconds"),
    # an unknown goal condition
    ('alive = ["app"]', 'alive = ["app"]\nsurvives = ["app"]', 14, "survives",
     "unknown goal condition"),
    # a goal condition's wrong value
    ('alive = ["app"]', 'alive = 3', 13, "alive", "process name"),
    # a process the goal names but the level never starts
    ('alive = ["app"]', 'alive = ["ghost"]', 13, "alive", "never starts"),
    # a word that is not a topic
    ('teaches = ["swap"]', 'teaches = ["swapping"]', 7, "teaches", "unknown topic"),
    # the scenario part: the key inside its table
    ('comm = "app"', 'comm = "app"\nworkload = "nosuch"', 18, "workload", "must be a program"),
    ('ram_mib = 64', 'ram_mb = 64', 15, "ram_mb", "unknown MachineConfig field"),
])
def test_each_error_names_file_line_and_key(tmp_path, old, new, line, key, says):
    path = write(tmp_path, GOOD.replace(old, new))
    message = error_of(path)
    where = f"{path}:{line}: " + (f"key `{key}`: " if key else "")
    assert message.startswith(where), message
    assert says in message


def test_missing_level_table(tmp_path):
    path = write(tmp_path, GOOD.replace("[level]", "[lvl]"))
    assert error_of(path).startswith(f"{path}:1: key `level`: missing")


def test_missing_goal_table(tmp_path):
    text = GOOD.replace('[goal]\ntext = "app alive"\nalive = ["app"]\n', "")
    assert error_of(write(tmp_path, text)).startswith(f"{tmp_path / 'tiny.toml'}:1: key `goal`")


def test_duplicate_id_names_the_second_file(tmp_path):
    levels = paths.ensure(paths.levels_dir())
    first = builtin_levels()[0]
    path = write(levels, GOOD.replace('id = "tiny"', f'id = "{first.id}"'), "mine.toml")
    with pytest.raises(OSError) as e:
        all_levels()
    assert str(e.value.strerror).startswith(f"{path}:3: key `id`: duplicate level id")


def test_user_levels_come_from_the_data_dir(tmp_path):
    write(paths.ensure(paths.levels_dir()), GOOD)
    assert [lv.id for lv in user_levels()] == ["tiny"]
    assert find_level("tiny").title == "A tiny level"
    assert find_level(str(paths.levels_dir() / "tiny.toml")).id == "tiny"
    with pytest.raises(OSError) as e:
        find_level("nosuch")
    assert e.value.errno == errno.ENOENT


def test_builtin_levels_are_in_order_and_teach_known_topics():
    levels = builtin_levels()
    assert [lv.order for lv in levels] == sorted(lv.order for lv in levels)
    assert [lv.id for lv in levels[:3]] == ["overcommit", "page-fault", "watermarks"]
    for lv in levels:
        assert lv.teaches and set(lv.teaches) <= set(TOPICS)
        assert lv.hints and lv.briefing and lv.goal_text
