"""Level files: a scenario (oomtui.scenarios) plus [level], [goal] and [score] tables.

Every error names the file, the line and the key at fault ("FILE:LINE: key `x`: message", as
OSError(EINVAL)); tomllib reports lines only for syntax errors, so `locate` finds a key's line
in the text.
"""

from __future__ import annotations

import errno
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from oomtui import paths, scenarios
from oomtui.game import goals, score

BUILTIN_DIR = Path(__file__).parent / "levels"
# The topics a level may teach: the path of an allocation through the kernel, in order.
TOPICS = ("overcommit", "page-fault", "watermarks", "page-cache", "swap", "thrashing", "psi",
          "memory.high", "memory.max", "oom_score_adj", "oom-killer", "panic_on_oom",
          "compaction", "mlock")
LEVEL_KEYS = ("id", "title", "order", "difficulty", "teaches", "briefing", "time_limit_s",
              "hints")
MAX_TIME_LIMIT_S = 3600
_ID = re.compile(r"[a-z0-9-]+")


@dataclass(frozen=True)
class Level:
    id: str
    title: str
    order: int  # campaign position; level n unlocks when level n-1 is won
    difficulty: int  # 1 (intro) .. 5 (expert)
    teaches: tuple[str, ...]  # words of TOPICS
    briefing: str
    goal_text: str
    hints: tuple[str, ...]
    time_limit_s: float  # simulated seconds
    scenario: scenarios.Scenario
    source: str  # the file's path
    goal: goals.Goal = field(default_factory=goals.Goal)
    weights: Mapping = field(default_factory=lambda: dict(score.WEIGHTS))

    @property
    def end_tick(self) -> int:
        """The tick the level is judged at, unless it was won or lost before."""
        return round(self.time_limit_s * 1000 / self.scenario.config.tick_ms)


class LevelError(OSError):
    """A bad level file: errno EINVAL, the message "FILE:LINE: key `x`: message"."""

    def __init__(self, source: str, line: int, key: str | None, message: str):
        where = f"{source}:{line}: " + (f"key `{key}`: " if key else "")
        super().__init__(errno.EINVAL, where + message)


def locate(text: str, table: str | None, key: str | None = None, index: int = 0) -> int:
    """The 1-based line of `key` in table `table` (None: the top level; for an array of tables,
    its `index`-th element), else the table's header line, else 1."""
    header_line, count = None, -1
    inside = table is None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = re.match(r"^\[\[\s*([^\]]+?)\s*\]\]|^\[\s*([^\]]+?)\s*\]", line)
        if m:
            name = m.group(1) or m.group(2)
            if name == table:
                count += 1 if m.group(1) else 0
                inside = not m.group(1) or count == index
                if inside and header_line is None:
                    header_line = n
            else:
                inside = False
            continue
        if inside and key is not None and re.match(rf'^"?{re.escape(key)}"?\s*[=.]', line):
            return n
    return header_line or 1


def _fail(source: str, text: str, table: str | None, key: str | None, message: str,
          index: int = 0) -> LevelError:
    return LevelError(source, locate(text, table, key, index), key or table, message)


def read_text(path: Path) -> str:
    """A level or moves file's text (size-limited, UTF-8)."""
    try:
        with path.open("rb") as f:
            raw = f.read(scenarios.MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OSError(getattr(e, "errno", None) or errno.EINVAL,
                      f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    if len(raw) > scenarios.MAX_FILE_BYTES:
        raise LevelError(str(path), 1, None, f"larger than {scenarios.MAX_FILE_BYTES >> 10} KiB")
    return text


def parse_toml(text: str, source: str) -> dict:
    """The TOML document; a syntax error names its line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        found = re.search(r"line (\d+)", str(e))
        raise LevelError(source, int(found.group(1)) if found else 1, None,
                         f"invalid TOML: {e}") from None
    except RecursionError:
        raise LevelError(source, 1, None, "invalid TOML: nested too deep") from None


def is_level_file(path: str | Path) -> bool:
    """Whether a .toml file means to be a level (it has a [level] table): then the level
    loader, not the scenario loader, says what is wrong with it."""
    with open(path, "rb") as f:
        head = f.read(scenarios.MAX_FILE_BYTES)
    return re.search(rb"^\s*\[level\]", head, re.MULTILINE) is not None


def load_level(path: str | Path) -> Level:
    """Read a level file."""
    path = Path(path)
    text = read_text(path)
    return parse_level(parse_toml(text, str(path)), text, str(path))


def _level_table(d, text: str, source: str) -> dict:
    def fail(key, message):
        return _fail(source, text, "level", key, message)

    if "level" not in d:
        raise LevelError(source, 1, "level", "missing: a level file needs a [level] table "
                                             "(id, title, order, briefing, ...)")
    t = d["level"]
    if not isinstance(t, Mapping):
        raise fail(None, "must be a table")
    for key in t:
        if key not in LEVEL_KEYS:
            raise fail(key, f"unknown key: use {', '.join(LEVEL_KEYS)}")
    for key in ("id", "title", "order", "briefing", "time_limit_s"):
        if key not in t:
            raise fail(key, "missing")

    def string(key):
        if not isinstance(t[key], str) or not t[key].strip():
            raise fail(key, f"must be a non-empty string, got {t[key]!r}")
        return t[key]

    def integer(key, lo, hi):
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise fail(key, f"must be an int from {lo} to {hi}, got {v!r}")
        return v

    def strings(key):
        v = t.get(key, [])
        if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
            raise fail(key, f"must be a list of strings, got {v!r}")
        return tuple(v)

    if not _ID.fullmatch(string("id")):
        raise fail("id", f"must be lowercase letters, digits and dashes, got {t['id']!r}")
    limit = t["time_limit_s"]
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not (
            0 < limit <= MAX_TIME_LIMIT_S):
        raise fail("time_limit_s", f"must be a number of seconds from 0 to {MAX_TIME_LIMIT_S}, "
                                   f"got {limit!r}")
    teaches = strings("teaches")
    for word in teaches:
        if word not in TOPICS:
            raise fail("teaches", f"unknown topic {word!r}: use {', '.join(TOPICS)}")
    return {"id": t["id"], "title": string("title"), "order": integer("order", 1, 10_000),
            "difficulty": integer("difficulty", 1, 5) if "difficulty" in t else 1,
            "teaches": teaches, "briefing": string("briefing"), "time_limit_s": float(limit),
            "hints": strings("hints")}


def scenario_part(d, text: str, source: str) -> scenarios.Scenario:
    """The scenario part; its errors ("SOURCE: at 2: tick: ...") mapped to a line and key."""
    rest = {k: v for k, v in d.items() if k not in ("level", "goal", "score")}
    try:
        return scenarios.parse(rest, source)
    except OSError as e:
        message = (e.strerror or str(e)).removeprefix(f"{source}: ")
        table, index, key = None, 0, None
        found = re.match(r"(process|at) (\d+): (.*)", message, re.S)
        if found:
            table, index, message = found.group(1), int(found.group(2)), found.group(3)
            element = rest[table][index] if isinstance(rest.get(table), list) else {}
            key = _key_in(message, element if isinstance(element, Mapping) else {})
        elif message.startswith("[machine]") or message.startswith("[policy]"):
            table = message[1:message.index("]")]
            key = _key_in(message, rest.get(table) or {})
        else:
            key = _key_in(message, rest)
        raise LevelError(source, locate(text, table, key, index), key or table,
                         message) from None


def _key_in(message: str, table: Mapping) -> str | None:
    """The key of `table` an error message is about: an unknown key it quotes, an [[at]]'s
    arguments, else the first key it names."""
    unknown = re.search(r"unknown key '([^']+)'", message)
    if unknown:
        return unknown.group(1)
    if re.search(r"\bargument\b", message):  # a call's argument: an [[at]]'s args or kwargs
        given = [k for k in ("args", "kwargs") if k in table]
        if given:
            return given[0]
    named = [k for k in table if re.search(rf"\b{re.escape(str(k))}\b", message)]
    return min(named, key=lambda k: message.index(str(k))) if named else None


def parse_level(d: Mapping, text: str, source: str) -> Level:
    """A Level from a parsed document and its text (for line numbers)."""
    meta = _level_table(d, text, source)
    goal_table = d.get("goal")
    if not isinstance(goal_table, Mapping):
        raise LevelError(source, locate(text, "goal"), "goal",
                         "missing: a level needs a [goal] table (text and conditions)")
    try:
        goal = goals.parse(goal_table)
    except goals.GoalError as e:
        raise _fail(source, text, "goal", e.key, e.message) from None
    try:
        weights = score.parse_weights(d.get("score", {}))
    except goals.GoalError as e:
        raise _fail(source, text, "score", e.key, e.message) from None
    scenario = scenario_part(d, text, source)
    for comm in goal.comms():
        if comm not in {p["comm"] for p in scenario.processes} | {
                c.args[0] for c in scenario.calls if c.name == "spawn" and c.args}:
            raise _fail(source, text, "goal", goal.key_naming(comm),
                        f"names process {comm!r}, which the level never starts")
    return Level(goal_text=goal.text, scenario=scenario, source=source, goal=goal,
                 weights=weights, **meta)


def _load_dir(directory: Path) -> list[Level]:
    levels = [load_level(p) for p in sorted(directory.glob("*.toml"))] if directory.is_dir() \
        else []
    return sorted(levels, key=lambda lv: (lv.order, lv.id))


def _unique(levels: list[Level]) -> list[Level]:
    seen: dict[str, Level] = {}
    for lv in levels:
        if lv.id in seen:
            raise LevelError(lv.source, locate(read_text(Path(lv.source)), "level", "id"), "id",
                             f"duplicate level id {lv.id!r}: {seen[lv.id].source} has it too")
        seen[lv.id] = lv
    return levels


def builtin_levels() -> list[Level]:
    """The levels shipped with oomtui, in campaign order."""
    return _unique(_load_dir(BUILTIN_DIR))


def user_levels() -> list[Level]:
    """The user's own levels (the data dir's levels/), in order."""
    return _load_dir(paths.levels_dir())


def all_levels() -> list[Level]:
    """Built-in levels, then the user's; an id used twice is an error naming the second file."""
    return _unique(builtin_levels() + user_levels())


def find_level(id_or_path: str | Path) -> Level:
    """A level by id (built-in or the user's), or a level file's path."""
    text = str(id_or_path)
    if text.endswith(".toml") or "/" in text:
        return load_level(text)
    for lv in all_levels():
        if lv.id == text:
            return lv
    raise OSError(errno.ENOENT, f"no level {text!r}: `oomtui levels` lists them")
