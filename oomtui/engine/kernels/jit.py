"""The kernel decorator: how every kernel is compiled.

numba compiles a function once per distinct tuple of argument types, and types an integer by
where it came from: int16 when read from an int16 array, int32 from an int32 one. Left alone,
a kernel called with the same value from different arrays compiled again for each width. A
kernel instead compiles for every integer it is passed as an int64 (numba does its integer
arithmetic in int64 anyway), so the width of the array a value came from no longer matters.

Constants stay constants: a kernel called with ZONE_NORMAL or order=0 still compiles a version
for them. The hot paths depend on it: compiled for plain int64s instead, a first run compiled
each kernel once, but faults ran 25 times slower (issue 12).
"""

from __future__ import annotations

import functools

from numba.core import sigutils, types
from numba.core.registry import CPUDispatcher

# _nrt=False: kernels never allocate, and without numba's reference counting a call between
# kernels costs ~2 ns instead of ~50 ns (every array argument was incref'd and decref'd).
FLAGS = dict(nopython=True, nogil=True, _nrt=False, boundscheck=None)


class Kernel(CPUDispatcher):
    """A numba dispatcher that compiles for int64 whatever integer width it is passed."""

    @staticmethod
    def plain(t: types.Type) -> types.Type:
        """The type a kernel is compiled for when an argument of type `t` is passed."""
        if isinstance(t, types.Integer) and not isinstance(t, types.Literal) and (
                t.signed or t.bitwidth < 64):
            return types.int64
        return t

    def compile(self, sig):
        args, return_type = sigutils.normalize_signature(sig)
        args = tuple(self.plain(a) for a in args)
        return super().compile(args if return_type is None else return_type(*args))


def kernel(fn=None, *, inline: str = "never"):
    """@kernel or @kernel(inline="always"): compiled on first use, cached on disk."""
    if fn is None:
        return functools.partial(kernel, inline=inline)
    k = Kernel(py_func=fn, locals={}, targetoptions=dict(FLAGS, inline=inline))
    k.enable_caching()
    return k
