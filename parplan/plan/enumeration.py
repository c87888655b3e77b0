"""The block program solved by exact enumeration (numpy), for programs small enough to list.

Same program as the ILP (`ilp.py`, docs/solver.md §1): per group, how many blocks run as each of
its items; per block type, one SP method; one memory cap. Every method-per-type mix that is not
cut off is tried. Within a mix the groups are independent except for the shared memory cap, so:
1. each group's compositions of `count` blocks over its items (all of them: C(count+k-1, k-1))
   are reduced to their Pareto front in (memory, time): no other composition is both smaller
   and faster, so the optimum uses a front point of every group;
2. the fronts of all groups but one are combined (every sum of one point per group, reduced to
   its front again);
3. for each point of that combined front, the last group's front gives its fastest point within
   the memory left (binary search: a front sorted by memory is decreasing in time).
Nothing is approximated: the optimum over all compositions is the optimum over the fronts.
`Fronts.work` counts the candidate sums this visits (once the fronts are built, which is cheap),
so `ilp.solve_blocks` can route larger programs to the ILP (docs/solver.md, "Which solver").
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Sequence

import numpy as np

from parplan.errors import Infeasible
from parplan.plan.program import (
    BlockItem,
    BlockProgram,
    BlockSolution,
    excluded,
    item_time_s,
    methods_by_type,
    solution_of,
    surcharged,
)

# a group's numpy calls in one mix (~40 us) cost about as much as 100 candidate sums (~0.3 us
# each): measured by benchmarks/bench_plan.py solvers (docs/solver.md, "Which solver")
SUMS_PER_GROUP = 100


@functools.lru_cache(maxsize=512)
def compositions(total: int, parts: int) -> np.ndarray:
    """Every way to split `total` blocks over `parts` items: an (n, parts) int array."""
    if parts == 1:
        return np.array([[total]], dtype=np.int64)
    rows = [
        np.column_stack([np.full(len(rest), first, dtype=np.int64), rest])
        for first in range(total, -1, -1)
        for rest in (compositions(total - first, parts - 1),)
    ]
    result = np.concatenate(rows)
    result.setflags(write=False)
    return result


class Front:
    """Pareto front of one or more groups: memory ascending, time strictly descending; `picks`
    holds, per point, the blocks per item of every group combined so far."""

    def __init__(self, memory: np.ndarray, time_s: np.ndarray, picks: np.ndarray) -> None:
        order = np.lexsort((time_s, memory))
        memory, time_s, picks = memory[order], time_s[order], picks[order]
        best_before = np.concatenate(([np.inf], np.minimum.accumulate(time_s)[:-1]))
        keep = time_s < best_before
        self.memory, self.time_s, self.picks = memory[keep], time_s[keep], picks[keep]

    def __len__(self) -> int:
        return len(self.memory)

    def plus(self, other: Front, *, memory_left: float) -> Front:
        """Every sum of a point of each (within `memory_left`), reduced to its front."""
        memory = (self.memory[:, None] + other.memory[None, :]).ravel()
        time_s = (self.time_s[:, None] + other.time_s[None, :]).ravel()
        a, b = np.divmod(np.arange(len(memory)), len(other))
        fits = memory <= memory_left
        picks = np.concatenate([self.picks[a[fits]], other.picks[b[fits]]], axis=1)
        return Front(memory[fits], time_s[fits], picks)


def group_front(items: Sequence[BlockItem], *, count: int, per_group: bool,
                methods: dict[str, str]) -> Front:  # fmt: skip
    """The group's front over its items (per_group: only the whole group in one item)."""
    splits = compositions(count, len(items))
    if per_group:
        splits = splits[splits.max(axis=1) == count]
    memory = splits @ np.array([i.activation_bytes for i in items], dtype=float)
    time_s = splits @ np.array([item_time_s(i, methods) for i in items], dtype=float)
    return Front(memory, time_s, splits)


def mixes(program: BlockProgram) -> list[dict[str, str]]:
    """Every method-per-type choice that is not cut off."""
    offered = methods_by_type(program)
    types = sorted(offered)
    every = (dict(zip(types, ms, strict=True)) for ms in itertools.product(*(offered[t] for t in types)))
    return [m for m in every if not excluded(program, m)]


class Fronts:
    """The fronts of one program, built once per (group, method, surcharge paid or not), and the
    best assignment of each mix, found once: the mixes of a program share most fronts, and the
    planner solves the same program again with mixes cut off (docs/solver.md §1, "Mixes")."""

    def __init__(self, program: BlockProgram) -> None:
        self.program = program
        self._items: dict[tuple[int, str], list[BlockItem]] = {}
        for item in program.items:
            self._items.setdefault((item.group_index, item.method), []).append(item)
        self._built: dict[tuple, tuple[list[BlockItem], Front]] = {}
        self._best: dict[tuple, tuple[float, list] | None] = {}

    def serves(self, program: BlockProgram) -> bool:
        """The same program but for the mixes cut off."""
        return program.items is self.program.items and program.model_copy(
            update={"excluded_mixes": []}
        ) == self.program.model_copy(update={"excluded_mixes": []})

    def of(self, group: int, methods: dict[str, str]) -> tuple[list[BlockItem], Front]:
        p = self.program
        items = self._items.get((group, methods[p.group_types[group]]), [])
        key = (group, items[0].method if items else None, tuple(surcharged(i, methods) for i in items))
        if key not in self._built:
            front = group_front(items, count=p.group_counts[group], per_group=p.per_group,
                                methods=methods)  # fmt: skip
            self._built[key] = (items, front)
        return self._built[key]

    def best(self, methods: dict[str, str]) -> tuple[float, list] | None:
        key = tuple(sorted(methods.items()))
        if key not in self._best:
            self._best[key] = _best_in_mix(self, methods)
        return self._best[key]

    def work(self, program: BlockProgram) -> int:
        """What enumerating `program` costs, in candidate sums: per mix not yet solved, every
        combination of the fronts of all groups but the largest (that one is searched, not
        listed), plus SUMS_PER_GROUP for each group's numpy calls."""
        total = 0
        for methods in mixes(program):
            if tuple(sorted(methods.items())) in self._best:
                continue
            sizes = sorted(len(self.of(g, methods)[1]) for g in range(len(program.group_counts)))
            total += math.prod(sizes[:-1]) + SUMS_PER_GROUP * len(sizes)
        return total


def enumeration_work(program: BlockProgram) -> int:
    return Fronts(program).work(program)


def _best_in_mix(fronts: Fronts, methods: dict[str, str]) -> tuple[float, list] | None:
    """(step seconds, [(item, blocks)]) of the best assignment under one mix, None if none fits."""
    p = fronts.program
    groups = [fronts.of(g, methods) for g in range(len(p.group_counts))]
    memory_left = p.capacity_bytes - p.fixed_memory_bytes
    last = max(range(len(groups)), key=lambda g: len(groups[g][1]))
    order = [g for g in range(len(groups)) if g != last]
    head = Front(np.zeros(1), np.zeros(1), np.zeros((1, 0), dtype=np.int64))
    for g in order:
        head = head.plus(groups[g][1], memory_left=memory_left)
    tail = groups[last][1]
    index = np.searchsorted(tail.memory, memory_left - head.memory, side="right") - 1
    usable = index >= 0
    if not usable.any():
        return None
    totals = np.where(usable, head.time_s + tail.time_s[np.maximum(index, 0)], np.inf)
    k = int(np.argmin(totals))
    columns = [*head.picks[k], *tail.picks[index[k]]]  # blocks per item, groups in `order + [last]`
    items = [item for g in [*order, last] for item in groups[g][0]]
    return float(totals[k]), [(item, int(n)) for item, n in zip(items, columns, strict=True)]


def solve_by_enumeration(program: BlockProgram, fronts: Fronts | None = None) -> BlockSolution:
    """The optimum of the block program by enumeration (docs/solver.md §1); Infeasible as the
    ILP raises it. Ties go to the first mix in sorted order and the least memory. `fronts`:
    reused when it serves this program (the same one with other mixes cut off)."""
    start = time.perf_counter()
    if fronts is None or not fronts.serves(program):
        fronts = Fronts(program)
    best: tuple[float, list, dict[str, str]] | None = None
    for methods in mixes(program):
        found = fronts.best(methods)
        if found is not None and (best is None or found[0] < best[0]):
            best = (found[0], found[1], methods)
    if best is None:
        if program.excluded_mixes:
            raise Infeasible("sp_method", "every SP method per block type is cut off")
        raise Infeasible("memory", "no method-per-type mix fits the memory cap")
    return solution_of(program, best[1], best[2], solver="enumeration",
                       solve_time_s=time.perf_counter() - start)  # fmt: skip
