"""`oomtui explain`: kernel OOM reports (4.19 … 6.18 formats, as pasted) read back, and the
engine's own out_of_memory choosing the same victim on the rebuilt machine (KERNEL.md §1)."""

import json
from pathlib import Path

import pytest

from oomtui.__main__ import main
from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.realworld.explain import explain
from oomtui.realworld.oom_report import ReportError, read_reports, strip_line

REPORTS = Path(__file__).parent / "reports"
MiB = 1 << 20


def read(name: str) -> str:
    return (REPORTS / name).read_text()


@pytest.mark.parametrize("name, index, victim, totalpages, trigger, constraint", [
    ("debian-4.19-syslog.txt", -1, (4410, "httpd"), 254429 + 262143,
     ("httpd", 4410, 0, "0x6280ca"), "CONSTRAINT_NONE"),
    ("debian-5.10-dmesg-T.txt", -1, (2202, "node"), 507614,
     ("stress", 2201, 0, "0x100cca"), "CONSTRAINT_NONE"),
    ("debian-6.1-memcg-v2.txt", -1, (77123, "python3"), 131072,
     ("python3", 77123, 0, "0xcc0"), "CONSTRAINT_MEMCG"),
    ("debian-6.16-journalctl-two.txt", 0, (1011, "java"), 2042112 + 524287,
     ("postgres", 980, 0, "0x140dca"), "CONSTRAINT_NONE"),
    ("debian-6.16-journalctl-two.txt", -1, (1200, "chrome"), 2042112 + 524287,
     ("postgres", 980, 0, "0x140dca"), "CONSTRAINT_NONE"),
    ("ubuntu-5.4-memcg-v1-docker.txt", -1, (5001, "stress"), 65536,      # memory+swap = memory
     ("stress", 5001, 0, "0xcc0"), "CONSTRAINT_MEMCG"),
    ("linux-6.6-sysrq-caller-id.txt", -1, (701, "vim"), 753840,
     ("kworker/0:1", 311, -1, "0xcc0"), "CONSTRAINT_NONE"),
])
def test_fixtures_explain_to_the_kernels_victim(name, index, victim, totalpages, trigger,
                                                constraint):
    report = read_reports(read(name))[index]
    out = explain(report).to_json()
    want = {"pid": victim[0], "comm": victim[1]}
    assert out["victim"] == want and out["simulated_victim"] == want
    assert out["totalpages"] == totalpages and out["constraint"] == constraint
    t = out["trigger"]
    assert (t["comm"], t["pid"], t["order"], t["gfp_mask"]["mask"]) == trigger


def test_points_are_the_kernels_terms():
    # node: 39000 rss + 327680 / 4096 pgtables + 900 * (507614 // 1000); udevd is -1000
    out = explain(read_reports(read("debian-5.10-dmesg-T.txt"))[0]).to_json()
    points = {t["pid"]: t["points"] for t in out["tasks"]}
    assert points == {301: None, 620: 40286, 2200: 311, 2201: 400976, 2202: 495380}
    assert out["tasks"][-1] == {"pid": 2202, "comm": "node", "rss": 39000, "swapents": 0,
                                "pgtables_bytes": 327680, "oom_score_adj": 900, "points": 495380}


def test_a_tie_goes_to_the_later_task():
    out = explain(read_reports(read("linux-6.6-sysrq-caller-id.txt"))[0]).to_json()
    assert [t["points"] for t in out["tasks"]] == [515, 21054, 21054]
    assert out["simulated_victim"]["pid"] == 701


def test_a_4_19_selection_and_its_swap():
    report = read_reports(read("debian-4.19-syslog.txt"))[0]
    assert report.victim.line == 38      # "Kill process 4410 (httpd) score 215 or sacrifice child"
    ex = explain(report)
    assert ex.rebuilt is not None
    status = ex.rebuilt.machine.proc_status(ex.rebuilt.pids[4410])
    assert status["VmSwap"] == 51000 * 4 and status["VmPTE"] == 1048576 // 1024


@pytest.mark.parametrize("pasted, kernel", [
    ("[12345.678901] Out of memory", "Out of memory"),
    ("[Sat Dec  5 15:37:09 2026] Out of memory", "Out of memory"),
    ("[  512.000001][  T311] Out of memory", "Out of memory"),
    ("Dec 04 23:12:01 db1 kernel: Out of memory", "Out of memory"),
    ("Mar  3 04:12:44 web1 kernel: [123456.789012] Out of memory", "Out of memory"),
    ("2026-12-05T15:37:09.123456+00:00 db1 kernel: Out of memory", "Out of memory"),
    ("Dec 05 15:37:09.123456 db1 kernel: Out of memory", "Out of memory"),
    ("kern  :err   : [  12.5] Out of memory", "Out of memory"),
    ("[   1200]  1000  1200    50000 chrome", "[   1200]  1000  1200    50000 chrome"),
])
def test_pasted_prefixes_are_removed(pasted, kernel):
    assert strip_line(pasted) == kernel


def test_several_reports_default_to_the_last(capsys):
    path = str(REPORTS / "debian-6.16-journalctl-two.txt")
    assert main(["explain", "--json", path]) == 0
    last = json.loads(capsys.readouterr().out)
    assert main(["explain", "--json", "--index", "0", path]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["victim"]["comm"], last["victim"]["comm"]) == ("java", "chrome")
    assert set(last) == {"trigger", "constraint", "totalpages", "victim", "simulated_victim",
                         "tasks"}
    assert main(["explain", "--json", "--index", "2", path]) == 1
    assert "holds 2 OOM report(s)" in capsys.readouterr().err


def cut(name: str, drop) -> str:
    return "".join(line for line in read(name).splitlines(True) if not drop(line))


def test_a_table_without_the_victim_says_what_is_missing():
    text = cut("debian-5.10-dmesg-T.txt", lambda line: "] [   2202]" in line)
    ex = explain(read_reports(text)[0])
    assert ex.decision is None and ex.to_json()["simulated_victim"] is None
    assert ex.missing == ["the victim node[2202] is not in the task table: the table is "
                          "incomplete (cut off or ratelimited)"]


def test_no_task_table_says_oom_dump_tasks():
    text = cut("debian-6.1-memcg-v2.txt", lambda line: "] [" in line or "Tasks state" in line)
    ex = explain(read_reports(text)[0])
    assert ex.to_json()["simulated_victim"] is None
    assert ex.missing[0].startswith("the task table (vm.oom_dump_tasks was 0)")


@pytest.mark.parametrize("text, message", [
    ("nothing here\n", "no OOM report found"),
    (read("debian-5.10-dmesg-T.txt").replace("  40200   352256", "  40200   3522x6"),
     "line 33: a task table row with a column that is not a number"),
    (read("debian-5.10-dmesg-T.txt").replace(
        "   460000   400100  3588096        0             0 stress", "   46"),
     "line 35: a task table row with 3 of its 8 columns"),
    ("".join(read("linux-6.6-sysrq-caller-id.txt").splitlines(True)[:22]),
     "line 22: the report that starts on line 2 ends before the kernel names its victim"),
], ids=["no-report", "not-a-number", "cut-row", "no-victim"])
def test_malformed_reports_name_the_line(text, message, tmp_path, capsys):
    with pytest.raises(ReportError, match=message):
        read_reports(text)
    path = tmp_path / "report.txt"
    path.write_text(text)
    assert main(["explain", "--json", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"oomtui: {path}: ") and message in err and "Traceback" not in err


def engine_oom(m: Machine, pid: int, size: int):
    a = m.mmap(pid, size)
    m.touch(pid, a, size)
    return [e for e in m.events if e.kind == "oom"][-1]


def round_trip(m: Machine, oom, **totals):
    out = explain(read_reports(oom.data["report"])[0], **totals).to_json()
    assert out["victim"]["pid"] == oom.data["victim"]
    assert out["simulated_victim"] == out["victim"]
    assert out["totalpages"] == oom.data["totalpages"]
    assert [(t["pid"], t["rss"], t["swapents"], t["pgtables_bytes"], t["oom_score_adj"],
             t["points"]) for t in out["tasks"]] == [
        (c["pid"], c["rss"], c["swapents"], c["pgtables"] * 4096, c["adj"], c["points"])
        for c in oom.data["candidates"]]


def test_the_engines_global_report_explains_back():
    m = Machine(MachineConfig(ram_mib=256, swap=[SwapDevice(size_mib=32)]))
    keep = m.spawn("keeper", oom_score_adj=-200)
    engine_oom_setup = m.mmap(keep, 40 * MiB, flags="shared|anonymous")
    m.touch(keep, engine_oom_setup, 40 * MiB)
    low = m.spawn("low", oom_score_adj=700)
    m.touch(low, m.mmap(low, 8 * MiB), 8 * MiB)
    oom = engine_oom(m, m.spawn("grower"), 250 * MiB)
    assert "Total swap = 32764kB" in oom.data["report"]
    round_trip(m, oom, ram_pages=m.totalram)   # the engine's report prints no zone lines


def test_the_engines_memcg_report_explains_back():
    m = Machine(MachineConfig(ram_mib=512))
    m.cgroup_create("/job", memory_max=64 * MiB)
    small = m.spawn("small", cgroup="/job", oom_score_adj=300)
    m.touch(small, m.mmap(small, 8 * MiB), 8 * MiB)
    oom = engine_oom(m, m.spawn("big", cgroup="/job"), 80 * MiB)
    assert oom.data["memcg"] == "/job"
    round_trip(m, oom, swap_pages=0)           # a memcg report prints no swap total


async def test_explain_opens_the_app_on_the_oom_screen():
    from oomtui.realworld.app import explain_app
    from oomtui.tui.screens.oom import OomScreen

    text = read("linux-6.6-sysrq-caller-id.txt")
    ex = explain(read_reports(text)[0])
    assert ex.why() == ("The kernel killed vim[701]; the engine picks it too: the most points "
                        "(rss + swap + page tables + oom_score_adj x totalpages/1000), 21054 "
                        "pages, next 21054")
    app = explain_app(ex, text)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, OomScreen)
        assert app.screen.query_one("#oom-table").row_count == 3


async def test_the_next_victim_follows_each_change():
    # select_bad_process on the rebuilt 5.10 machine (574382 pages of RAM, no swap), redone
    # after each oom_score_adj write; points = rss + pgtables + adj * (574382 / 1000) (raised:
    # lowering below the adj a task started with needs CAP_SYS_RESOURCE)
    from oomtui.realworld.app import NextVictim, explain_app
    from oomtui.scenarios import Call

    text = read("debian-5.10-dmesg-T.txt")
    ex = explain(read_reports(text)[0])
    app = explain_app(ex, text)
    sim_pid = ex.rebuilt.pids

    def shown() -> str:
        return str(app.screen.query_one(NextVictim).render())

    async def until(condition) -> None:   # the engine worker answers in its own time
        for _ in range(600):
            if condition():
                return
            await pilot.pause(0.05)
        raise AssertionError(f"never held; the line says: {shown()}")

    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: "node[2202]" in shown())
        assert "node[2202] (simulated pid 6), 555680 points = 39000 rss + 0 swap + 80 page " \
               "tables + 516600 for oom_score_adj 900; next stress[2201]" in shown()
        app.sim.submit(Call("set_oom_score_adj", (sim_pid[620], 1000)), "mysqld adj 1000")
        await until(lambda: "mysqld[620]" in shown().split(";")[0])
        # 40200 rss + 86 pgtables + 1000 * 574: more than node's 555680
        assert "mysqld[620] (simulated pid 3), 614286 points" in shown()
        app.sim.submit(Call("set_oom_score_adj", (sim_pid[2201], 1000)), "stress adj 1000")
        await until(lambda: "stress[2201]" in shown().split(";")[0])
        assert "stress[2201] (simulated pid 5), 974976 points = 400100 rss + 0 swap + 876 " \
               "page tables + 574000 for oom_score_adj 1000; next mysqld[620]" in shown()
        await pilot.press("escape")                 # the main screen says it too
        assert app.screen is app.main
        await until(lambda: "stress[2201]" in shown().split(";")[0])


def test_a_memcg_report_needs_the_swap_size_when_swap_is_unlimited():
    # mem_cgroup_get_max adds min(swap.max, total_swap_pages), and a memcg report has no swap total
    text = read("debian-6.1-memcg-v2.txt").replace("swap: usage 0kB, limit 0kB",
                                                   "swap: usage 0kB, limit 9007199254740988kB")
    report = read_reports(text)[0]
    unknown = explain(report)
    assert unknown.totalpages is None and unknown.decision is None    # the adjs differ
    assert "give --swap-kb" in unknown.missing[0]
    known = explain(report, swap_pages=262143).to_json()
    assert known["totalpages"] == 131072 + 262143
    # with 393 pages per adj point, 77130's adj 600 outweighs 77123's 113000 more pages
    assert known["simulated_victim"] == {"pid": 77130, "comm": "python3"}


def test_oom_kill_allocating_task_kills_the_trigger():
    # 5.10 fixture, as if vm.oom_kill_allocating_task=1: the kernel kills stress, the allocator
    text = read("debian-5.10-dmesg-T.txt")
    text = text.replace("task=node,pid=2202", "task=stress,pid=2201").replace(
        "Out of memory: Killed process 2202 (node) total-vm:240000kB, anon-rss:150000kB, "
        "file-rss:6000kB, shmem-rss:0kB, UID:1000 pgtables:320kB oom_score_adj:900",
        "Out of memory (oom_kill_allocating_task): Killed process 2201 (stress) "
        "total-vm:1840000kB, anon-rss:1600400kB, file-rss:0kB, shmem-rss:0kB, UID:1000 "
        "pgtables:3504kB oom_score_adj:0")
    out = explain(read_reports(text)[0]).to_json()
    assert out["victim"] == out["simulated_victim"] == {"pid": 2201, "comm": "stress"}


def test_a_panic_has_no_victim_to_explain():
    text = "".join(read("linux-6.6-sysrq-caller-id.txt").splitlines(True)[:23])
    text += "Kernel panic - not syncing: System is deadlocked on memory\n"
    with pytest.raises(ReportError, match="line 24: the kernel panicked instead of killing"):
        read_reports(text)
