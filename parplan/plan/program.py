"""The block program (docs/solver.md §1): its items, inputs and solution, and what every solver
shares: the methods each block type may run, the memory check before solving, the presolve
(everything at its fastest already fits), and the solution built from chosen counts.

Solvers: `enumeration.py` (numpy, exact, for programs small enough to list) and `ilp.py`
(PuLP: HiGHS or CBC); `ilp.solve_blocks` picks one by size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from parplan.cost.layout import ckpt_mix
from parplan.cost.records import BlockOption
from parplan.errors import Infeasible
from parplan.specs import GIB, CkptMode, ModelSpec, StrategySpec


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------ block program


class BlockItem(Record):
    """One knapsack item: a block of group `group_index` run with SP `method` in `ckpt` mode."""

    group_index: int
    block_type: str
    ckpt: CkptMode
    method: str = "default"
    time_s: float  # one block, whole step (compute + exposed comm + recompute)
    activation_bytes: float  # what one such block holds per GPU at the memory peak
    # paid per block on top of time_s when block type surcharge_if[0] runs method
    # surcharge_if[1] (a layout switch this block carries only in that mix, e.g. DSP's)
    surcharge_s: float = 0.0
    surcharge_if: tuple[str, str] | None = None


class BlockProgram(Record):
    """Inputs of `solve_blocks`. Groups are in model order (`ModelSpec.blocks`)."""

    items: list[BlockItem] = Field(min_length=1)
    group_types: list[str] = Field(min_length=1)
    group_counts: list[int] = Field(min_length=1)
    fixed_time_s: float = 0.0
    fixed_memory_bytes: float = 0.0
    capacity_bytes: float
    per_group: bool = False  # True: one checkpoint mode per group (a multiple-choice knapsack)
    excluded_mixes: list[dict[str, str]] = Field(default_factory=list)  # no-good cuts on x[t, m]


class GroupChoice(Record):
    group_index: int
    block_type: str
    method: str
    ckpt: CkptMode
    blocks: int


class BlockSolution(Record):
    choices: list[GroupChoice]
    methods: dict[str, str]  # block type -> SP method
    step_time_s: float
    memory_bytes: float
    solver: str  # cbc | highs | presolve (unconstrained optimum already fits)
    solve_time_s: float

    def ckpt_per_group(self) -> list[CkptMode]:
        """One mode per group (valid when the program was solved with per_group=True)."""
        modes = {c.group_index: c.ckpt for c in self.choices}
        assert len(modes) == len(self.choices), "a group mixes modes"
        return [modes[g] for g in sorted(modes)]

    def ckpt_per_block(self, group_counts: Sequence[int]) -> list[CkptMode]:
        """Per-block checkpoint list in model order (within a group: fastest modes first)."""
        order = {"none": 0, "selective": 1, "full": 2}
        chosen = sorted(self.choices, key=lambda c: (c.group_index, order[c.ckpt]))
        modes = [c.ckpt for c in chosen for _ in range(c.blocks)]
        assert len(modes) == sum(group_counts), (len(modes), group_counts)
        return modes


def methods_by_type(program: BlockProgram) -> dict[str, list[str]]:
    """SP methods offered for every group of a block type (a method must cover them all)."""
    offered: dict[int, set[str]] = {}
    for item in program.items:
        offered.setdefault(item.group_index, set()).add(item.method)
    result: dict[str, list[str]] = {}
    for g, block_type in enumerate(program.group_types):
        have = offered.get(g, set())
        prev = result.get(block_type)
        result[block_type] = sorted(have if prev is None else set(prev) & have)
    return result


def _items_for(program: BlockProgram, group: int, method: str) -> list[BlockItem]:
    return [i for i in program.items if i.group_index == group and i.method == method]


def min_memory_bytes(program: BlockProgram) -> float:
    """Least memory any assignment can use (types are independent in memory)."""
    total = program.fixed_memory_bytes
    for block_type, methods in methods_by_type(program).items():
        per_method = [_type_min_memory(program, block_type, m) for m in methods]
        total += min(per_method, default=math.inf)
    return total


def _type_min_memory(program: BlockProgram, block_type: str, method: str) -> float:
    groups = [g for g, t in enumerate(program.group_types) if t == block_type]
    return sum(
        program.group_counts[g] * min(i.activation_bytes for i in _items_for(program, g, method))
        for g in groups
    )


def check_feasible(program: BlockProgram) -> None:
    """Raise Infeasible before building an ILP that cannot have a solution."""
    empty = [t for t, ms in methods_by_type(program).items() if not ms]
    if empty:
        raise Infeasible("sp_method", f"no SP method is offered for every {empty[0]} block")
    need = min_memory_bytes(program)
    if need > program.capacity_bytes:
        raise memory_infeasible(
            need_bytes=need,
            capacity_bytes=program.capacity_bytes,
            fixed_bytes=program.fixed_memory_bytes,
        )


def memory_infeasible(
    *, need_bytes: float, capacity_bytes: float, fixed_bytes: float
) -> Infeasible:
    short_gib = (need_bytes - capacity_bytes) / GIB
    detail = (
        f"memory: needs at least {need_bytes / GIB:.2f} GiB per GPU with every block fully "
        f"checkpointed ({fixed_bytes / GIB:.2f} GiB weights/grads/optimizer/buffers), "
        f"but the cap is {capacity_bytes / GIB:.2f} GiB: short by {short_gib:.2f} GiB"
    )
    return Infeasible("memory", detail, shortfall_gib=round(short_gib, 3))


def surcharged(item: BlockItem, methods: dict[str, str]) -> bool:
    """Does `item` pay its surcharge under this method-per-type choice?"""
    return (
        item.surcharge_if is not None and methods.get(item.surcharge_if[0]) == item.surcharge_if[1]
    )


def item_time_s(item: BlockItem, methods: dict[str, str]) -> float:
    return item.time_s + (item.surcharge_s if surcharged(item, methods) else 0.0)


def excluded(program: BlockProgram, methods: dict[str, str]) -> bool:
    return any(all(methods.get(t) == m for t, m in mix.items()) for mix in program.excluded_mixes)


def fastest_solution(program: BlockProgram) -> BlockSolution | None:
    """Presolve: if every group's fastest item fits and no surcharge or cut applies,
    it is optimal."""
    choice = {}
    for g in range(len(program.group_types)):
        group_items = [i for i in program.items if i.group_index == g]
        choice[g] = min(group_items, key=lambda i: (i.time_s, i.activation_bytes, i.ckpt, i.method))
    methods = {program.group_types[g]: i.method for g, i in choice.items()}
    if any(methods[program.group_types[g]] != i.method for g, i in choice.items()):
        return None
    if excluded(program, methods):
        return None
    if any(surcharged(i, methods) and i.surcharge_s > 0 for i in choice.values()):
        return None
    memory = program.fixed_memory_bytes + sum(
        program.group_counts[g] * i.activation_bytes for g, i in choice.items()
    )
    if memory > program.capacity_bytes:
        return None
    picks = [(i, program.group_counts[g]) for g, i in choice.items()]
    return solution_of(program, picks, methods, solver="presolve", solve_time_s=0.0)


def solution_of(
    program: BlockProgram,
    picks: Sequence[tuple[BlockItem, int]],
    methods: dict[str, str],
    *,
    solver: str,
    solve_time_s: float,
) -> BlockSolution:
    picks = [(i, n) for i, n in picks if n > 0]
    return BlockSolution(
        choices=[
            GroupChoice(
                group_index=i.group_index,
                block_type=i.block_type,
                method=i.method,
                ckpt=i.ckpt,
                blocks=n,
            )
            for i, n in sorted(picks, key=lambda p: (p[0].group_index, p[0].ckpt))
        ],
        methods=dict(sorted(methods.items())),
        step_time_s=program.fixed_time_s + sum(item_time_s(i, methods) * n for i, n in picks),
        memory_bytes=program.fixed_memory_bytes + sum(i.activation_bytes * n for i, n in picks),
        solver=solver,
        solve_time_s=solve_time_s,
    )


def block_program(
    model: ModelSpec,
    options: list[BlockOption],
    *,
    fixed_time_s: float,
    fixed_memory_bytes: float,
    capacity_bytes: float,
    per_group: bool = False,
) -> BlockProgram:
    items = [
        BlockItem.model_construct(  # built from validated options: skip re-validation
            group_index=o.group_index,
            block_type=o.block_type,
            ckpt=o.ckpt,
            method=getattr(o, "method", "default"),
            time_s=o.time_s,
            activation_bytes=o.activation_bytes,
            surcharge_s=getattr(o, "surcharge_s", 0.0),
            surcharge_if=_surcharge_if(o),
        )
        for o in options
    ]
    return BlockProgram(
        items=items,
        group_types=[g.type for g in model.blocks],
        group_counts=stage_counts(model, options),
        fixed_time_s=fixed_time_s,
        fixed_memory_bytes=fixed_memory_bytes,
        capacity_bytes=capacity_bytes,
        per_group=per_group,
    )


def _surcharge_if(option: Any) -> tuple[str, str] | None:
    """cost/options.SpOption's surcharge is paid when the named type runs DSP."""
    other = getattr(option, "surcharge_if", None)
    return None if other is None else (other, "dsp")


def stage_counts(model: ModelSpec, options: list[BlockOption]) -> list[int]:
    """Blocks per group the options price: the slowest pipeline stage's (cost/options.py)."""
    counts = {o.group_index: o.count for o in options}
    return [counts.get(g, group.count) for g, group in enumerate(model.blocks)]


def model_ckpt_list(solution: BlockSolution, program: BlockProgram, model: ModelSpec) -> list[CkptMode]:
    """The per-block `ckpt` list (model order) that `predict` reads as the solution's counts:
    `layout.ckpt_mix` scales each group's modes to the blocks the slowest pipeline stage holds,
    so a group of `total` blocks of which the stage holds `stage` gets its modes in proportion,
    checked against `ckpt_mix` itself. With pp = 1 (stage = total) the counts are the list's."""
    modes: list[CkptMode] = []
    for g in range(len(model.blocks)):
        chosen = {c.ckpt: c.blocks for c in solution.choices if c.group_index == g}
        modes += _group_modes(model, g, chosen, stage=program.group_counts[g])
    return modes


_SPEED_ORDER = ("none", "selective", "full")


def _group_modes(model: ModelSpec, g: int, chosen: dict[str, int], *, stage: int) -> list[CkptMode]:
    total = model.blocks[g].count
    used = [m for m in _SPEED_ORDER if chosen.get(m, 0) > 0]
    if stage in (0, total):
        return [m for m in used for _ in range(chosen[m])] if stage else ["none"] * total
    target = [chosen[m] * total / stage for m in used]
    tallies = [t for t in _compositions(total, len(used)) if min(t) > 0]
    tallies.sort(key=lambda t: sum(abs(a - b) for a, b in zip(t, target, strict=True)))
    want = sorted((m, chosen[m]) for m in used)
    before = ["none"] * sum(b.count for b in model.blocks[:g])
    after = ["none"] * sum(b.count for b in model.blocks[g + 1 :])
    for tally in tallies:
        modes = [m for m, n in zip(used, tally, strict=True) for _ in range(n)]
        read = ckpt_mix(StrategySpec(ckpt=before + modes + after), model, g, stage)
        if sorted(read) == want:
            return modes
    raise AssertionError(f"no ckpt list of group {g} reads as {chosen} on a stage of {stage}")


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    if parts == 1:
        return [(total,)]
    return [(k, *rest) for k in range(total + 1) for rest in _compositions(total - k, parts - 1)]
