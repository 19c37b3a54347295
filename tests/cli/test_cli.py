"""The ``oomtui`` command: help, version, the placeholder screen, meminfo, errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import oomtui
from oomtui.__main__ import main
from oomtui.examples import EXAMPLES_DIR

REPO = Path(__file__).resolve().parents[2]


def run(*args, env=None):
    # cwd=REPO so `-m oomtui` works even without an install.
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_help_describes_the_tool():
    result = run("-m", "oomtui", "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: oomtui" in result.stdout
    assert "memory" in result.stdout
    assert "meminfo" in result.stdout


def test_version():
    result = run("-m", "oomtui", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"oomtui {oomtui.__version__}"


@pytest.fixture
def opened(monkeypatch):
    """The (scenario, options) the app would be opened with; the app does not run."""
    from oomtui.tui.app import OomApp

    seen = []
    monkeypatch.setattr(OomApp, "run", lambda self: seen.append((self.scenario, self.start)))
    return seen


def test_no_arguments_opens_the_app_on_the_default_scenario(opened):
    assert main([]) == 0
    assert opened == [(None, {"paused": False, "tick": 0, "speed": 1})]


def test_options_alone_open_the_default_scenario(opened):
    assert main(["--speed", "4"]) == 0
    assert opened == [(None, {"paused": False, "tick": 0, "speed": 4})]


def test_a_path_opens_that_scenario(opened, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[machine]\nram_mib = 512\n[[process]]\ncomm = "a"\n')
    assert main([str(path), "--paused", "--speed", "4"]) == 0
    (scenario, start), = opened
    assert scenario.name == "mine" and scenario.config.ram_mib == 512
    assert start == {"paused": True, "tick": 0, "speed": 4}


@pytest.mark.parametrize("content, message", [
    ("name = [", "invalid TOML"),
    ("[machine]\nram_mib = 5\n", "ram_mib=5 is out of range"),
    ("bogus = 1\n", "unknown key 'bogus'"),
    ("[machine]\nram_mib = 64\n[[at]]\ntick = 1\ncall = 'rm'\n", "call 'rm' is not one a scenario may make"),
])
def test_a_bad_scenario_is_one_line_not_a_traceback(opened, tmp_path, capsys, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    assert main([str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"oomtui: {path}: ") and message in err and "(EINVAL)" in err
    assert opened == []


def test_a_path_that_is_not_toml_opens_as_a_save(opened):
    assert main([str(EXAMPLES_DIR / "leak-about-to-be-killed.oomsave"), "--paused"]) == 0
    (start, options), = opened
    assert start.name == "leak-about-to-be-killed" and start.boot().tick == start.state["tick"]
    assert options["paused"]


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"), (b"\x00random bytes", "not an oomtui save")])
def test_a_file_that_is_neither_is_one_line_not_a_traceback(opened, tmp_path, capsys, content,
                                                           message):
    path = tmp_path / "save.bin"
    if content is not None:
        path.write_bytes(content)
    assert main([str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("oomtui: ") and message in err and "\n" not in err and opened == []


def test_bad_option_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["meminfo", "--ram-mib", "lots"])
    assert exc.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


def test_meminfo_prints_proc_meminfo(capsys):
    assert main(["meminfo", "--ram-mib", "1024"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{'MemTotal:':<16}{1048576:>8} kB"
    assert any(line.startswith("MemAvailable:") for line in lines)


def test_meminfo_bad_size_is_one_line_not_a_traceback():
    result = run("-m", "oomtui", "meminfo", "--ram-mib", "-5")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("oomtui: "), result.stderr


@pytest.mark.parametrize("runs", ["0", "-2", "101"])
def test_bench_runs_out_of_range_is_one_line_not_a_traceback(capsys, runs):
    assert main(["bench", "--compile", "--runs", runs]) == 1
    err = capsys.readouterr().err
    assert err == f"oomtui: --runs must be from 1 to 100, got {int(runs)} (EINVAL)\n"


def _import_oomtui(env):
    code = (
        "import os, sys, oomtui\n"
        "heavy = sorted({'numba', 'numpy', 'textual'} & set(sys.modules))\n"
        "print(os.environ['NUMBA_CACHE_DIR']); print(heavy)\n"
    )
    result = run("-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _fresh_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    return {**env, **extra}


def test_import_sets_numba_cache_dir_under_oomtui_home(tmp_path):
    cache_dir, heavy = _import_oomtui(_fresh_env(OOMTUI_HOME=str(tmp_path)))
    assert Path(cache_dir).parent == tmp_path / "cache" / "numba"  # keyed by the kernels' source
    assert heavy == "[]"  # importing the package stays cheap


def test_import_keeps_an_explicit_numba_cache_dir(tmp_path):
    mine = str(tmp_path / "mine")
    cache_dir, _ = _import_oomtui(_fresh_env(OOMTUI_HOME=str(tmp_path), NUMBA_CACHE_DIR=mine))
    assert Path(cache_dir).parent == Path(mine)  # keyed by the kernels' source
