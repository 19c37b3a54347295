"""The example saves shipped with the package, each stopped at a notable moment (a leak about
to be OOM-killed, a machine thrashing in swap, a memcg at its limit). The picker (ctrl+o) lists
them; scripts/make_example_saves.py regenerates them when the save format or the engine changes.
"""

from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent
