"""The engine's numba kernels: the per-page hot paths, one module per subsystem.

Kernels take the state groups of state.py (namedtuples of arrays) and scalars, allocate
nothing, and cost in proportion to the pages they handle, never to the size of RAM. They call
one another with keyword arguments. This package re-exports every kernel and constant, so
callers write ``from oomtui.engine import kernels as K`` and ``K.fault_range(...)``.

numba's on-disk cache checks only a kernel's own source file, not the modules it calls into:
oomtui/__init__.py keys the cache directory by a hash of every module the kernels are built
from (oomtui/numba_cache.py), so an edit anywhere here recompiles what depends on it.

Where things are:
  buddy        the page allocator: free lists, watermarks, waking kswapd
  lru          LRU lists, mlock, activation       workingset   shadows and refaults
  memcg        try_charge (batches, the per-cpu stock) / uncharge, memory.high's overage count
  swap         swap slot allocation (folio_alloc_swap → get_swap_pages) and the swap cache
  swapin       swap-in with adaptive readahead, shmem swap-in, swapoff
  mapping      map/unmap a page, new anon pages    rmap         the reverse map, try_to_unmap
  pagetables   page-table pages                    pagecache    the page cache, read/write
  fault        page faults (and the THP fault)     ranges       munmap, fork, mremap of a range
  madvise      madvise, mlock, mincore             reclaim      shrink_node, kswapd, direct reclaim
  slab         slab caches and their shrinker      writeback    the flushers
  compaction   compaction and migration            recount      invariant recounts (tests)
  lists, hashtable, results                        shared building blocks
  jit          the @kernel decorator: one compiled version per kernel
"""

from oomtui.engine.constants import (  # noqa: F401 (Python's side uses them as K.*)
    MAX_RECLAIM_RETRIES, MEMCG_CHARGE_BATCH, SWAP_CLUSTER_MAX,
)
from oomtui.engine.kernels.buddy import *  # noqa: F403
from oomtui.engine.kernels.compaction import *  # noqa: F403
from oomtui.engine.kernels.fault import *  # noqa: F403
from oomtui.engine.kernels.hashtable import *  # noqa: F403
from oomtui.engine.kernels.lists import *  # noqa: F403
from oomtui.engine.kernels.lru import *  # noqa: F403
from oomtui.engine.kernels.madvise import *  # noqa: F403
from oomtui.engine.kernels.mapping import *  # noqa: F403
from oomtui.engine.kernels.memcg import *  # noqa: F403
from oomtui.engine.kernels.pagecache import *  # noqa: F403
from oomtui.engine.kernels.pagetables import *  # noqa: F403
from oomtui.engine.kernels.ranges import *  # noqa: F403
from oomtui.engine.kernels.reclaim import *  # noqa: F403
from oomtui.engine.kernels.recount import *  # noqa: F403
from oomtui.engine.kernels.results import *  # noqa: F403
from oomtui.engine.kernels.rmap import *  # noqa: F403
from oomtui.engine.kernels.slab import *  # noqa: F403
from oomtui.engine.kernels.swap import *  # noqa: F403
from oomtui.engine.kernels.swapin import *  # noqa: F403
from oomtui.engine.kernels.workingset import *  # noqa: F403
from oomtui.engine.kernels.writeback import *  # noqa: F403
