"""`oomtui bench`'s two measurements outside the engine: this machine's kernel, and the app's
first paint. (The figures themselves are reported, never asserted: no timed tests.)"""

from oomtui import bench


def test_the_real_kernel_faults_once_per_4k_page_on_first_touch():
    r = bench.real_kernel_faults(touch_mib=16)
    assert 4096 <= r["faults"] <= 4096 + 64  # 16 MiB of 4 KiB pages; a few faults of its own


def test_first_paint_times_a_new_process_until_the_app_shows_its_first_frame():
    r = bench.first_paint(runs=1)  # raises if the app ends without painting
    assert r["runs"] == 1 and r["seconds"] > 0
