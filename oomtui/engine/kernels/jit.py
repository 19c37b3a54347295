"""The flags every kernel is compiled with."""

from __future__ import annotations


# _nrt=False: kernels never allocate, and without numba's reference counting a call between
# kernels costs ~2 ns instead of ~50 ns (every array argument was incref'd and decref'd).
JIT = dict(cache=True, nogil=True, _nrt=False)
