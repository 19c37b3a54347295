"""Doubly linked lists over frames: the buddy free lists and the LRU lists share the link
arrays (Frames.next/prev), since a page is never on both.
"""

from __future__ import annotations

from oomtui.engine.kernels.jit import kernel


@kernel
def list_add_head(nxt, prv, head, tail, i, j, p):
    h = head[i, j]
    prv[p] = -1
    nxt[p] = h
    if h >= 0:
        prv[h] = p
    else:
        tail[i, j] = p
    head[i, j] = p


@kernel
def list_add_tail(nxt, prv, head, tail, i, j, p):
    t = tail[i, j]
    nxt[p] = -1
    prv[p] = t
    if t >= 0:
        nxt[t] = p
    else:
        head[i, j] = p
    tail[i, j] = p


@kernel
def list_del(nxt, prv, head, tail, i, j, p):
    n = nxt[p]
    q = prv[p]
    if q >= 0:
        nxt[q] = n
    else:
        head[i, j] = n
    if n >= 0:
        prv[n] = q
    else:
        tail[i, j] = q
    nxt[p] = -1
    prv[p] = -1
