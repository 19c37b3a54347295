"""`oomtui bench`'s measurements outside the engine: this machine's kernel, the app's first
paint, its starts. (The figures themselves are reported, never asserted: no timed tests.)"""

from oomtui import bench


def test_the_real_kernel_faults_once_per_4k_page_on_first_touch():
    r = bench.real_kernel_faults(touch_mib=16)
    assert 4096 <= r["faults"] <= 4096 + 64  # 16 MiB of 4 KiB pages; a few faults of its own


def test_first_paint_times_a_new_process_until_the_app_shows_its_first_frame():
    r = bench.first_paint(runs=1)  # raises if the app ends without painting
    assert r["runs"] == 1 and r["seconds"] > 0


def test_compile_log_counts_each_function_once_per_signature_and_times_it_alone():
    import numba
    from numba.core import event

    from oomtui.engine.warmup import CompileLog

    @numba.njit
    def inner(x):
        return x + 1

    @numba.njit
    def outer(x):
        return inner(x) * 2

    log = CompileLog()
    with event.install_listener("numba:compile", log):
        outer(1)
        outer(1.5)
        inner(2)  # already compiled for an int by outer(1)
    s = log.summary()
    assert s["functions"] == 2 and s["signatures"] == 4
    assert s["compiled_more_than_once"] == {"test_compile_log_counts_each_function_once_per_"
                                            "signature_and_times_it_alone.<locals>.inner": 2,
                                            "test_compile_log_counts_each_function_once_per_"
                                            "signature_and_times_it_alone.<locals>.outer": 2}
    assert all(seconds > 0 for seconds in s["top_exclusive_s"].values())


def test_a_warm_start_is_timed_to_its_first_tick_and_to_running_compiled():
    """The same harness times a cold start (`oomtui bench --compile`), with empty caches."""
    r = bench.start_times(runs=1, cold=False)
    assert r["runs"] == 1
    assert 0 < r["compiled_s"]["median"] and 0 < r["first_tick_s"]["median"]
    assert r["cpu_s"]["median"] > 0
