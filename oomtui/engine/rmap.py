"""The reverse map (mm/rmap.c's anon_vma and i_mmap, flattened): page → its mappings.

A page knows its anon id or file id and its page index; the index below lists every VMA
of every live mm by those ids, so reclaim can find each PTE mapping a page.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine.state import PAGE_SHIFT, Rmap
from oomtui.engine.vma import GENERATION

# The columns of one VMA's row, in the order _row gives them.
ANON, FILE, MM, START, END, PGOFF, FLAGS = range(7)


def _row(vma, mm: int) -> tuple:
    """One VMA's row."""
    return (vma.anon, vma.file, mm, vma.start >> PAGE_SHIFT, vma.end >> PAGE_SHIFT, vma.pgoff,
            vma.flags)


def _insert_sorted(keys: np.ndarray, rows: np.ndarray, new_keys: np.ndarray, first: int):
    """keys (sorted) and their rows with rows first.. (keys new_keys) merged in, each after
    the equal keys already there: numpy moves the arrays once, no sort of the whole."""
    order = np.argsort(new_keys, kind="stable")
    at = np.searchsorted(keys, new_keys[order], side="right")
    return np.insert(keys, at, new_keys[order]), np.insert(rows, at, order + first)


class RmapIndex:
    """The Rmap over every live mm, kept up to date by what changed: a live mm logs each VMA
    it adds, changes or drops (Mm.log, this index's `log`), and the log is replayed when the
    VMA GENERATION moves. A dropped VMA's row is made empty (end = start: rmap_walk skips
    it); a new one is appended and its keys merged into the sorted ones. When the empty rows
    outnumber the others, everything is built again from the live mms."""

    def __init__(self):
        self.log: list = []  # (vma, its mm id) to (re)make its row, (vma, -1) to drop it
        self._scratch = ()
        self._empty()
        self._full = True  # build from the live mms at the next look
        self._built = (-1, None)  # (the VMA GENERATION it was built at, the Rmap)

    def _empty(self) -> None:
        self._cols = np.zeros((7, 0), np.int64)  # rows 0..n-1 used, the rest spare
        self._n = self._dead = 0  # rows used, rows of dropped VMAs among them
        self._rows: dict[int, tuple] = {}  # id(vma) -> (its row, the vma: keeps the id unique)
        self._anon = self._file = (np.zeros(0, np.int64), np.zeros(0, np.int64))  # keys, rows

    def join(self, mm) -> None:
        """mm's process is live (on the task list): its VMAs join the reverse map."""
        mm.log = self.log
        self.log.extend((v, mm.id) for v in mm.vmas)

    def leave(self, mm) -> None:
        """mm's process was released: its VMAs leave."""
        mm.log = None
        self.log.extend((v, -1) for v in mm.vmas)

    def current(self, mms) -> Rmap:
        """The Rmap of `mms` (the live ones), brought up to date if any VMA changed since."""
        gen, rmap = self._built
        if gen != GENERATION[0]:
            if self._full:
                self._build(list(mms))
            else:
                self._replay()
                if self._dead > self._n - self._dead:
                    self._build(list(mms))
            rmap = self._view()
            self._built = (GENERATION[0], rmap)
        return rmap

    def _build(self, mms) -> None:
        """Everything again from the live mms (the log is theirs from here on)."""
        self.log.clear()
        self._empty()
        self._full = False
        for mm in mms:
            self.join(mm)
        self._replay()

    def _replay(self) -> None:
        """Apply the log: each VMA in it drops its old row and, if live, gets a new one."""
        last = {id(vma): (vma, mm) for vma, mm in self.log}  # a VMA's last entry: its state
        self.log.clear()  # in place: the live mms hold it
        first, made, dropped = self._n, [], []
        for key, (vma, mm) in last.items():
            old = self._rows.pop(key, None)
            if old is not None:
                dropped.append(old[0])
            if mm >= 0:
                self._rows[key] = (first + len(made), vma)
                made.append((vma, mm))
        if made:
            self._append(np.array([_row(v, mm) for v, mm in made], np.int64).T)
        if dropped:
            self._cols[END, dropped] = self._cols[START, dropped]
            self._dead += len(dropped)

    def _append(self, new: np.ndarray) -> None:
        first, n = self._n, self._n + new.shape[1]
        if n > self._cols.shape[1]:  # double the capacity: appends are O(1) amortised
            cols = np.zeros((7, 2 * n), np.int64)
            cols[:, :first] = self._cols[:, :first]
            self._cols = cols
            self._scratch = tuple(np.zeros(2 * n, np.int64) for _ in range(4))
        self._cols[:, first:n] = new
        self._n = n
        self._anon = _insert_sorted(*self._anon, new[ANON], first)
        self._file = _insert_sorted(*self._file, new[FILE], first)

    def _view(self) -> Rmap:
        n = self._n
        cols = [self._cols[c, :n] for c in (MM, START, END, PGOFF, FLAGS)]
        scratch = self._scratch or tuple(np.zeros(1, np.int64) for _ in range(4))
        return Rmap(*self._anon, *self._file, *cols, *(s[:max(n, 1)] for s in scratch))
