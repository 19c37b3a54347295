"""The reverse map (mm/rmap.c's anon_vma and i_mmap, flattened): page → its mappings.

A page knows its anon id or file id and its page index; the index below lists every VMA
of every live mm by those ids, so reclaim can find each PTE mapping a page.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine.state import PAGE_SHIFT, Rmap
from oomtui.engine.vma import GENERATION

# The columns of one VMA's row, in the order _columns gives them.
ANON, FILE, MM, START, END, PGOFF, FLAGS = range(7)


def _columns(mm) -> np.ndarray:
    """One mm's rows: shape (7, its VMAs)."""
    rows = [(v.anon, v.file, mm.id, v.start >> PAGE_SHIFT, v.end >> PAGE_SHIFT, v.pgoff, v.flags)
            for v in mm.vmas]
    return np.array(rows, dtype=np.int64).reshape(len(rows), 7).T


class RmapIndex:
    """Builds the Rmap over every live mm. Each mm's rows are kept until its own VMAs change
    (Mm.gen), so the Python work of a rebuild is in proportion to the mms that changed (a
    fork: the child); joining and sorting everyone's rows is left to numpy."""

    def __init__(self):
        self._rows: dict[int, tuple] = {}  # mm id -> (mm, its gen, its _columns)
        self._built = (-1, None)  # (the VMA GENERATION it was built at, the Rmap)

    def current(self, mms) -> Rmap:
        """The Rmap of `mms` (the live ones), rebuilt if any VMA changed since the last."""
        gen, rmap = self._built
        if gen != GENERATION[0]:
            rmap = self.build(mms)
            self._built = (GENERATION[0], rmap)
        return rmap

    def build(self, mms) -> Rmap:
        kept, parts = {}, []
        for mm in mms:
            hit = self._rows.get(mm.id)
            if hit is None or hit[0] is not mm or hit[1] != mm.gen:
                hit = (mm, mm.gen, _columns(mm))
            kept[mm.id] = hit
            parts.append(hit[2])
        self._rows = kept
        table = np.concatenate(parts, axis=1) if parts else np.zeros((7, 0), dtype=np.int64)
        col = [np.ascontiguousarray(c) for c in table]
        anon_rows = np.argsort(col[ANON], kind="stable")
        file_rows = np.argsort(col[FILE], kind="stable")
        scratch = max(table.shape[1], 1)
        return Rmap(col[ANON][anon_rows], anon_rows, col[FILE][file_rows], file_rows,
                    col[MM], col[START], col[END], col[PGOFF], col[FLAGS],
                    *(np.zeros(scratch, np.int64) for _ in range(4)))
