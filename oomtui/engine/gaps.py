"""The free gaps of an address space, indexed by size (the maple tree's gap tracking that
get_unmapped_area searches, mm/mmap.c): the highest or lowest gap of at least a size is found
in steps of the address space's bits, whatever the number of VMAs."""

from __future__ import annotations

BITS = 36  # page numbers up to TASK_SIZE >> PAGE_SHIFT = 2**35, inclusive


class Gaps:
    """Gap sizes in pages keyed by the gap's ceiling page (the start of the VMA above it),
    and for every aligned block of ceilings the largest gap in it: largest[h][c >> h]."""

    def __init__(self):
        self.largest: list[dict[int, int]] = [{} for _ in range(BITS + 1)]

    def set(self, ceiling: int, size: int) -> None:
        """The gap below `ceiling` is `size` pages (none if size <= 0)."""
        leaf = self.largest[0]
        if size > 0:
            leaf[ceiling] = size
        else:
            leaf.pop(ceiling, None)
        key = ceiling
        for h in range(1, BITS + 1):
            below, level = self.largest[h - 1], self.largest[h]
            best = max(below.get(key & ~1, 0), below.get(key | 1, 0))
            key >>= 1
            if level.get(key, 0) == best:
                return  # the blocks above are unchanged
            if best:
                level[key] = best
            else:
                del level[key]

    def size(self, ceiling: int) -> int:
        return self.largest[0].get(ceiling, 0)

    def highest(self, most: int, size: int) -> int | None:
        """The highest ceiling <= most of a gap of at least `size` pages, or None."""
        return self._search(most, size, -1)

    def lowest(self, least: int, size: int) -> int | None:
        """The lowest ceiling >= least of a gap of at least `size` pages, or None."""
        return self._search(least, size, 1)

    def _search(self, bound: int, size: int, step: int) -> int | None:
        """Climb from `bound` until a sibling block on the `step` side holds a gap that big
        (the nearest such block: siblings found lower down are nearer), then descend in it
        keeping to the side nearest `bound`."""
        if self.size(bound) >= size:
            return bound
        near = 1 if step < 0 else 0  # a right child's sibling is below it, a left one's above
        key, h = bound, 0
        while key & 1 != near or self.largest[h].get(key + step, 0) < size:
            key >>= 1
            h += 1
            if h == BITS:
                return None
        key += step
        while h:
            h -= 1
            key = 2 * key + near  # the child nearest `bound`, if its gaps are big enough
            if self.largest[h].get(key, 0) < size:
                key += 1 - 2 * near
        return key
