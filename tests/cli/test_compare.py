"""`oomtui compare`: one scenario under several OOM policies (oomtui/compare.py)."""

from __future__ import annotations

import errno
import json

import pytest

from oomtui import compare
from oomtui.__main__ import main
from oomtui.scenarios import BUILTIN_DIR

STORM = str(BUILTIN_DIR / "build-storm.toml")


@pytest.mark.slow
def test_compare_is_deterministic_and_says_who_killed_whom(capsys):
    policies = compare.parse_policies("kernel,systemd-oomd")
    first = compare.compare(STORM, policies, 67)
    assert compare.compare(STORM, policies, 67) == first
    kernel, oomd = first["policies"]["kernel"], first["policies"]["systemd-oomd"]
    assert [(k["pid"], k["comm"], k["cgroup"], k["tick"], k["by"]) for k in kernel["kills"]] == [
        (4, "cc1-b", "/user-1000", 6684, "kernel")]
    assert [(k["comm"], k["tick"], k["by"]) for k in oomd["kills"]] == [
        ("cc1-a", 6496, "systemd-oomd"), ("cc1-b", 6496, "systemd-oomd"),
        ("cc1-c", 6496, "systemd-oomd")]
    assert set(kernel) == {"kills", "stall_ms", "survivors"}
    assert kernel["survivors"] == oomd["survivors"] == ["postgres"]
    assert main(["compare", "build-storm", "--policies", "kernel,systemd-oomd", "--seconds", "67",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    table = compare.table(first, ("postgres",), 10)
    assert table.splitlines()[1].split()[:5] == ["kernel", "cc1-b[4]", "/user-1000", "kernel",
                                                 "66.84"]


@pytest.mark.parametrize("args, message", [
    (["--policies", "kernel,oomd"], "unknown OOM policy 'oomd': use kernel, earlyoom, "
     "systemd-oomd, nohang (EINVAL)"),
    (["--policies", ","], "--policies names no policy: use some of kernel, earlyoom, "
     "systemd-oomd, nohang (EINVAL)"),
    (["--policies", "earlyoom", "--set", "earlyoom.mem_term_percent=120"],
     "earlyoom: mem_term_percent: must be a number from 0 to 99, got 120 (EINVAL)"),
    (["--policies", "earlyoom", "--set", "nohang.min_badness=5"], "--set 'nohang.min_badness=5': "
     "use POLICY.SETTING=VALUE with a policy of --policies (earlyoom) (EINVAL)"),
    (["--policies", "earlyoom", "--set", "earlyoom.avoid=chrome"], "--set 'earlyoom.avoid=chrome'"
     ": 'chrome' is not a TOML value (a number, true/false, a \"string\" or a [list]) (EINVAL)"),
    (["--seconds", "0"], "--seconds must be from 0 to 3600, got 0 (EINVAL)"),
])
def test_bad_policies_and_settings_are_a_clear_error_and_a_failure(args, message, capsys):
    assert main(["compare", "build-storm", *args]) == 1
    assert capsys.readouterr().err == f"oomtui: {message}\n"


def test_settings_from_the_command_line_are_toml_values():
    assert compare.parse_policies("kernel, earlyoom", ["earlyoom.avoid=\"^postgres$\"",
                                                       "earlyoom.mem_term_percent=12.5"]) == {
        "kernel": {}, "earlyoom": {"avoid": "^postgres$", "mem_term_percent": 12.5}}
    with pytest.raises(OSError) as e:
        compare.parse_policies("earlyoom,earlyoom")
    assert e.value.errno == errno.EINVAL
