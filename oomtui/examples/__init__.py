"""The example saves shipped with the package, each stopped at a notable moment. The picker
(ctrl+o) lists them with these descriptions; scripts/make_example_saves.py regenerates them when
the save format or the engine changes.
"""

from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent
DESCRIPTIONS = {
    "leak-about-to-be-killed": "A leak at 32 MiB/s on a 256 MiB machine without swap, one tick "
                               "before the OOM killer picks it (oom_score_adj 500) over the "
                               "database.",
    "thrashing-with-swap": "Three workers touching 300 MiB at random on a 256 MiB machine with "
                           "512 MiB of swap: every tick swaps pages in and out (watch pswpin, "
                           "pswpout and PSI).",
    "memcg-at-its-limit": "A batch job in /batch (memory.max 64 MiB, no swap) one tick before "
                          "the memcg OOM killer ends it, while the machine itself has plenty "
                          "free.",
}
