"""The reverse map (mm/rmap.c's anon_vma and i_mmap, flattened): page → its mappings.

A page knows its anon id or file id and its page index; the index below lists every VMA
of every live mm by those ids, so reclaim can find each PTE mapping a page.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine.state import PAGE_SHIFT, Rmap


def build_rmap(mms) -> Rmap:
    rows = [(mm.id, v) for mm in mms for v in mm.vmas]
    n = len(rows)

    def col(fn):
        return np.fromiter((fn(mm, v) for mm, v in rows), dtype=np.int64, count=n)

    anon = col(lambda mm, v: v.anon)
    file = col(lambda mm, v: v.file)
    anon_rows = np.argsort(anon, kind="stable")
    file_rows = np.argsort(file, kind="stable")
    scratch = max(n, 1)
    return Rmap(anon[anon_rows], anon_rows, file[file_rows], file_rows,
                col(lambda mm, v: mm), col(lambda mm, v: v.start >> PAGE_SHIFT),
                col(lambda mm, v: v.end >> PAGE_SHIFT), col(lambda mm, v: v.pgoff),
                col(lambda mm, v: v.flags), np.zeros(scratch, np.int64), np.zeros(scratch, np.int64),
                np.zeros(scratch, np.int64), np.zeros(scratch, np.int64))
