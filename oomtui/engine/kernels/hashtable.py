"""Hash tables: int64 keys to int64 values, open addressing with linear probing (page tables
and the page cache).
"""

from __future__ import annotations

import numpy as np

from oomtui.engine.kernels.jit import kernel
from oomtui.engine.state import EMPTY


@kernel
def ht_hash(key, mask):
    h = np.uint64(key)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return np.int64(h & np.uint64(mask))


@kernel
def ht_get(keys, vals, key):
    mask = keys.size - 1
    i = ht_hash(key=key, mask=mask)
    while keys[i] != EMPTY:
        if keys[i] == key:
            return vals[i]
        i = (i + 1) & mask
    return -1


@kernel
def ht_put(keys, vals, count, key, val):
    mask = keys.size - 1
    i = ht_hash(key=key, mask=mask)
    while keys[i] != EMPTY and keys[i] != key:
        i = (i + 1) & mask
    if keys[i] == EMPTY:
        count[0] += 1
    keys[i] = key
    vals[i] = val


@kernel
def ht_del(keys, vals, count, key):
    """Remove with backward-shift deletion (no tombstones)."""
    mask = keys.size - 1
    i = ht_hash(key=key, mask=mask)
    while keys[i] != key:
        if keys[i] == EMPTY:
            return
        i = (i + 1) & mask
    count[0] -= 1
    j = i
    while True:
        j = (j + 1) & mask
        if keys[j] == EMPTY:
            break
        k = ht_hash(key=keys[j], mask=mask)
        # keys[j] may move into the hole at i unless its home lies cyclically in (i, j].
        if (i <= j and (k <= i or k > j)) or (i > j and k <= i and k > j):
            keys[i] = keys[j]
            vals[i] = vals[j]
            i = j
    keys[i] = EMPTY
    vals[i] = EMPTY


@kernel
def ht_rehash(old_keys, old_vals, keys, vals, count):
    for i in range(old_keys.size):
        if old_keys[i] != EMPTY:
            ht_put(keys=keys, vals=vals, count=count, key=old_keys[i], val=old_vals[i])
