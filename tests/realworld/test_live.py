"""`oomtui live`: /proc read into a machine whose oom_score, CommitLimit and watermarks are the
kernel's (KERNEL.md §2, §3, §5). proc-capture/ is a small /proc in the kernel's file formats."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oomtui.__main__ import main
from oomtui.realworld.live import from_proc, kill_order, live

CAPTURE = Path(__file__).parent / "proc-capture"
ROOT, CGROUPS = CAPTURE / "proc", CAPTURE / "cgroup"


def test_the_capture_reads_and_skips_what_it_must():
    snap = from_proc(ROOT, CGROUPS)
    assert [t.pid for t in snap.snapshot.tasks] == [1, 345, 800, 1000]
    assert "pid 900 (defunct) is a zombie" in snap.notes
    assert "pid 901 ended while being read" in snap.notes   # pid 2, a kernel thread: no note
    assert not any("kthreadd" in n for n in snap.notes)
    postgres = snap.snapshot.tasks[2]
    assert (postgres.uid, postgres.rss_anon, postgres.rss_file, postgres.rss_shmem,
            postgres.swapents, postgres.pgtables_bytes) == (104, 50000, 2000, 10000, 5000,
                                                            560 * 1024)
    assert snap.snapshot.swap == (131071,) and snap.snapshot.sysctl["vm.min_free_kbytes"] == 5000
    assert snap.snapshot.sysctl["vm.lowmem_reserve_ratio"] == (256, 256, 32, 0, 0)


def test_the_capture_rebuilt_agrees_with_the_kernel():
    rebuilt, meminfo = live(ROOT, CGROUPS)
    m = rebuilt.machine
    # T = 253840 + 131071; postgres: 62000 rss + 5000 swap + 140 pgtables; app: +500 * 384
    assert {real: m.oom_score(sim) for real, sim in rebuilt.pids.items()} == {
        345: 0, 800: 782, 1000: 1042}
    assert m.meminfo()["CommitLimit"] == meminfo["CommitLimit"]
    zones = m.zoneinfo()
    assert [(zones[z]["min"], zones[z]["low"], zones[z]["high"]) for z in ("DMA", "DMA32")] == [
        (18, 22, 26), (1231, 1538, 1845)]                     # as proc-capture/proc/zoneinfo
    assert m.cgroup_stat("/system.slice/app.service")["memory.max"] == 256 << 20
    assert [v["pid"] for v in kill_order(rebuilt)] == [1000, 800]   # sshd is -1000


def test_live_json(capsys):
    assert main(["live", "--json", "--root", str(ROOT), "--cgroup-root", str(CGROUPS)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"meminfo", "processes", "victims"}
    assert out["processes"][1] == {"pid": 800, "comm": "postgres", "oom_score": 782,
                                   "oom_score_adj": 0, "rss_kb": 248000, "swap_kb": 20000}
    first = out["victims"][0]
    assert (first["pid"], first["rss"], first["pgtables"], first["adj_term"]) == (
        1000, 25000, 55, 500 * 384)


def test_a_directory_that_is_not_proc_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(OSError) as e:
        from_proc(tmp_path)
    assert e.value.errno == errno.ENOENT and "is not a Linux /proc" in str(e.value)
    assert main(["live", "--json", "--root", str(tmp_path)]) == 1
    assert "is not a Linux /proc" in capsys.readouterr().err


CHILD = """
import sys
open("/proc/self/oom_score_adj", "w").write(sys.argv[2])
hold = bytearray(int(sys.argv[1]) << 20)
for i in range(0, len(hold), 4096):   # touch every page: anonymous RSS
    hold[i] = 1
print("ready", flush=True)
sys.stdin.read()                      # until the test closes our stdin
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists() or sys.platform != "linux",
                    reason="needs Linux's /proc")
def test_this_machines_oom_scores():
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(mib), str(adj)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for mib, adj in ((16, 0), (48, 300), (96, 900))]
    try:
        for c in children:
            assert c.stdout.readline() == "ready\n"
        rebuilt, _ = live()
        m = rebuilt.machine
        for c in children:
            kernel = int(Path(f"/proc/{c.pid}/oom_score").read_text())
            assert m.oom_score(rebuilt.pids[c.pid]) == kernel, c.pid
    finally:
        for c in children:       # only our own children, by pid
            c.stdin.close()
            c.wait(timeout=30)
    assert os.getpid() in rebuilt.pids
