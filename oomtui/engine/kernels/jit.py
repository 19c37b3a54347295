"""The kernel decorator: how every kernel is compiled, and how it runs interpreted.

numba compiles a function once per distinct tuple of argument types. It types an integer by
where it came from (int16 when read from an int16 array, int32 from an int32 one) and a
constant as a literal (ZONE_NORMAL as Literal[int](2)), so a kernel called with the same value
from different arrays, or with different constants, compiled again for each: a first run
compiled 225 signatures of 134 functions, alloc_from_zones 16 times (issue 12). A kernel instead
compiles once, for every integer it is passed as an int64 (numba does its integer arithmetic in
int64 anyway), with one exception: `order`. A block's order sizes its loops and its shifts, and
nearly every allocation and free is of a single page: compiled for the constant order=0 as well
as for any order, faults run three times as fast, with and without reclaim, as compiled for
any order only. So the buddy kernels that take an order compile twice, the rest once.
"""

from __future__ import annotations

import functools
import inspect
import warnings

import numpy as np
from numba.core import sigutils, types
from numba.core.registry import CPUDispatcher

# _nrt=False: kernels never allocate, and without numba's reference counting a call between
# kernels costs ~2 ns instead of ~50 ns (every array argument was incref'd and decref'd).
FLAGS = dict(nopython=True, nogil=True, _nrt=False, boundscheck=None)
SPECIALISED = "order"  # the one argument a kernel compiles a version for each constant of


class Kernel(CPUDispatcher):
    """A numba dispatcher that compiles for int64 whatever integer it is passed, a constant
    order aside."""

    @staticmethod
    def plain(name: str, t: types.Type) -> types.Type:
        """The type a kernel is compiled for when its argument `name` is passed a `t`."""
        if name == SPECIALISED and isinstance(t, types.IntegerLiteral):
            return t
        t = types.unliteral(t)
        if isinstance(t, types.Integer) and (t.signed or t.bitwidth < 64):
            return types.int64
        return t

    def compile(self, sig):
        args, return_type = sigutils.normalize_signature(sig)
        names = inspect.signature(self.py_func).parameters
        args = tuple(self.plain(name, a) for name, a in zip(names, args))
        return super().compile(args if return_type is None else return_type(*args))


# What a kernel run interpreted must treat as a compiled one does: integers it is passed are
# widened to Python ints (Kernel.plain; an int8 read from an array would overflow a shift of 1
# by 9), and numpy scalars it returns are boxed as numba boxes them. uint64 stays: the hashes
# wrap around it on purpose, in both.
_WIDENED = frozenset((np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32))
_BOXED = _WIDENED | {np.uint64, np.float64, np.bool_}
warnings.filterwarnings("ignore", "overflow encountered in scalar", RuntimeWarning,
                        r"oomtui\.engine\.kernels\.hashtable")


def _interpreted_call(self, *args, **kwargs):
    if args:
        args = [int(a) if a.__class__ in _WIDENED else a for a in args]
    for name, value in kwargs.items():
        if value.__class__ in _WIDENED:
            kwargs[name] = int(value)
    result = self.py_func(*args, **kwargs)
    if result.__class__ in _BOXED:
        return result.item()
    if result.__class__ is tuple:
        return tuple(v.item() if v.__class__ in _BOXED else v for v in result)
    return result


def interpret(on: bool) -> None:
    """Run every kernel as plain Python (on) or compiled (off, the default). Same results, 20 to
    100 times slower: a first run plays interpreted while the kernels compile (engine/compiler.py).
    A kernel's Python body calls the others through their dispatchers, so they are interpreted
    too; while off, Kernel has no __call__ of its own and a call costs what it always did."""
    if on:
        Kernel.__call__ = _interpreted_call
    elif "__call__" in vars(Kernel):
        del Kernel.__call__


def interpreted() -> bool:
    return "__call__" in vars(Kernel)


def kernel(fn=None, *, inline: str = "never"):
    """@kernel or @kernel(inline="always"): compiled on first use, cached on disk."""
    if fn is None:
        return functools.partial(kernel, inline=inline)
    k = Kernel(py_func=fn, locals={}, targetoptions=dict(FLAGS, inline=inline))
    k.enable_caching()
    return k
