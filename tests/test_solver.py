"""The solver's integer programs against brute force over the same (small) spaces.

DESIGN.md, "Solver": the ILP's optimum must equal brute force on every case small enough to
enumerate; infeasible programs must name the binding constraint and the shortfall.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parplan.errors import Infeasible
from parplan.plan.deadline import smallest_meeting
from parplan.plan.enumeration import compositions, enumeration_work
from parplan.plan.ilp import ENUMERATION_MAX_WORK, solve_blocks
from parplan.plan.program import BlockItem, BlockProgram, excluded, item_time_s, methods_by_type
from parplan.plan.results import SizePoint
from parplan.specs import GIB, StrategySpec

MODES = ("none", "selective", "full")


# ----------------------------------------------------------------------------- brute force


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    return [c for c in itertools.product(range(total + 1), repeat=parts) if sum(c) == total]


def brute_force_blocks(program: BlockProgram) -> float:
    """Best step time over every method-per-type choice and every per-group mode split."""
    offered = methods_by_type(program)
    types = sorted(offered)
    best = math.inf
    for methods in itertools.product(*(offered[t] for t in types)):
        chosen = dict(zip(types, methods, strict=True))
        if not excluded(program, chosen):
            best = min(best, _best_given_methods(program, chosen))
    return best


def _best_given_methods(program: BlockProgram, methods: dict[str, str]) -> float:
    per_group = []
    for g, (block_type, count) in enumerate(
        zip(program.group_types, program.group_counts, strict=True)
    ):
        items = [i for i in program.items if i.group_index == g and i.method == methods[block_type]]
        splits = _compositions(count, len(items))
        if program.per_group:  # the whole group in one mode
            splits = [c for c in splits if max(c) == count]
        per_group.append([(items, c) for c in splits])
    best = math.inf
    for split in itertools.product(*per_group):
        time_s = program.fixed_time_s + sum(
            item_time_s(i, methods) * n
            for items, c in split
            for i, n in zip(items, c, strict=True)
        )
        memory = program.fixed_memory_bytes + sum(
            i.activation_bytes * n for items, c in split for i, n in zip(items, c, strict=True)
        )
        if memory <= program.capacity_bytes:
            best = min(best, time_s)
    return best


# ------------------------------------------------------------------------- generators


@st.composite
def block_programs(draw: st.DrawFn) -> BlockProgram:
    """Synthetic programs: <= 4 groups, <= 8 blocks, 1-2 SP methods per type, DSP surcharges."""
    n_groups = draw(st.integers(1, 4))
    types = draw(
        st.lists(
            st.sampled_from(["spatial", "temporal", "full"]), min_size=n_groups, max_size=n_groups
        )
    )
    counts = draw(st.lists(st.integers(1, 3), min_size=n_groups, max_size=n_groups))
    methods = draw(
        st.sampled_from([["ulysses"], ["ulysses", "ring"], ["dsp_t", "dsp_s"], ["ulysses", "dsp"]])
    )
    items = [
        _draw_item(draw, g, t, m, mode)
        for (g, t), m, mode in itertools.product(enumerate(types), methods, MODES)
    ]
    if "dsp" in methods:  # planner-style: spatial non-DSP blocks pay switches if temporal is DSP
        items = [_with_surcharge(draw, i) for i in items]
    cuts = draw(st.lists(st.fixed_dictionaries({t: st.sampled_from(methods) for t in types})))
    fixed = draw(st.integers(0, 20)) * GIB
    need = [
        sum(
            c * min(i.activation_bytes for i in items if i.group_index == g)
            for g, c in enumerate(counts)
        )
    ]
    cap = fixed + need[0] + draw(st.integers(0, 40)) * GIB // 2
    return BlockProgram(
        items=items,
        group_types=types,
        group_counts=counts,
        fixed_time_s=draw(st.floats(0, 5)),
        fixed_memory_bytes=fixed,
        capacity_bytes=cap,
        per_group=draw(st.booleans()),
        excluded_mixes=cuts[:2],
    )


def _with_surcharge(draw: st.DrawFn, item: BlockItem) -> BlockItem:
    if item.block_type != "spatial" or item.method == "dsp":
        return item
    extra = draw(st.floats(0, 0.5))
    return item.model_copy(update={"surcharge_s": extra, "surcharge_if": ("temporal", "dsp")})


def _draw_item(draw: st.DrawFn, g: int, block_type: str, method: str, mode: str) -> BlockItem:
    base = {"none": 1.0, "selective": 1.1, "full": 1.35}[mode]
    act_gib = {"none": 8, "selective": 3, "full": 1}[mode] * draw(st.integers(1, 3))
    return BlockItem(
        group_index=g,
        block_type=block_type,
        ckpt=mode,
        method=method,
        time_s=base * draw(st.floats(0.01, 1.0)),
        activation_bytes=act_gib * GIB,
    )


# ------------------------------------------------------------------------------ tests


ROUTES = [("cbc", "ilp"), ("highs", "ilp"), ("highs", "enumeration")]


@pytest.mark.parametrize(("solver", "route"), ROUTES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=block_programs())
def test_block_solvers_equal_brute_force(program: BlockProgram, solver: str, route: str) -> None:
    """The ILP (CBC, HiGHS) and the enumeration against brute force over every assignment."""
    expected = brute_force_blocks(program)
    if expected == math.inf and program.excluded_mixes:
        with pytest.raises(Infeasible):
            solve_blocks(program, solver=solver, route=route)
        return
    if expected == math.inf:
        with pytest.raises(Infeasible, match="short by") as info:
            solve_blocks(program, solver=solver, route=route)
        assert info.value.binding == "memory" and info.value.shortfall_gib > 0
        return
    solution = solve_blocks(program, solver=solver, route=route)
    assert solution.step_time_s == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert solution.memory_bytes <= program.capacity_bytes * (1 + 1e-9)
    assert sum(c.blocks for c in solution.choices) == sum(program.group_counts)
    if program.per_group:
        assert len(solution.ckpt_per_group()) == len(program.group_counts)


def _knapsack(cap_gib: float) -> BlockProgram:
    """Two groups of 4 blocks; none = 1.0 s / 10 GiB, selective = 1.2 s / 4, full = 1.5 s / 1."""
    items = [
        BlockItem(group_index=g, block_type="full", ckpt=mode, time_s=t, activation_bytes=a * GIB)
        for g, (mode, t, a) in itertools.product(
            range(2), [("none", 1.0, 10), ("selective", 1.2, 4), ("full", 1.5, 1)]
        )
    ]
    return BlockProgram(
        items=items,
        group_types=["full", "full"],
        group_counts=[4, 4],
        fixed_memory_bytes=20 * GIB,
        capacity_bytes=cap_gib * GIB,
    )


def test_knapsack_mixes_modes_under_the_cap() -> None:
    """Cap 60 GiB leaves 40 GiB for 8 blocks: 4 selective (16) + ... the ILP mixes modes."""
    solution = solve_blocks(_knapsack(60))
    assert solution.solver in ("highs", "cbc", "enumeration")
    assert solution.step_time_s == pytest.approx(brute_force_blocks(_knapsack(60)))
    assert len({c.ckpt for c in solution.choices}) >= 2
    assert solution.memory_bytes <= 60 * GIB


def test_presolve_returns_fastest_when_it_fits() -> None:
    solution = solve_blocks(_knapsack(200))
    assert solution.solver == "presolve"
    assert {c.ckpt for c in solution.choices} == {"none"}
    assert solution.step_time_s == pytest.approx(8.0)


def test_memory_infeasible_names_shortfall() -> None:
    """All blocks fully checkpointed need 20 + 8*1 = 28 GiB; a 25 GiB cap is 3 GiB short."""
    with pytest.raises(Infeasible, match=r"short by 3\.00 GiB") as info:
        solve_blocks(_knapsack(25))
    assert info.value.binding == "memory"
    assert info.value.shortfall_gib == pytest.approx(3.0)


def test_dsp_switch_surcharge_switches_method() -> None:
    """DSP on temporal blocks makes each spatial (non-DSP) block pay its layout switches
    (cost/options.py `_surcharge`). Per pair of blocks: all Ulysses 2.0 s; spatial Ulysses +
    temporal DSP 1.7 + switch; DSP everywhere 1.9 (no switch). Cheap switches (0.05) pick the
    mix (3.5 s for two pairs); costly ones (0.5) make DSP everywhere the best (3.8 s)."""

    def solve(switch_s: float):
        items = [
            BlockItem(group_index=g, block_type=t, ckpt="none", method=m, time_s=s,
                      activation_bytes=GIB,
                      **({"surcharge_s": switch_s, "surcharge_if": ("temporal", "dsp")}
                         if (t, m) == ("spatial", "ulysses") else {}))
            for g, t in enumerate(["spatial", "temporal"] * 2)
            for m, s in [("ulysses", 1.0), ("dsp", 1.2 if t == "spatial" else 0.7)]
        ]  # fmt: skip
        program = BlockProgram(items=items, group_types=["spatial", "temporal"] * 2,
                               group_counts=[1, 1, 1, 1], capacity_bytes=100 * GIB)  # fmt: skip
        return solve_blocks(program)

    cheap = solve(0.05)
    assert cheap.methods == {"spatial": "ulysses", "temporal": "dsp"}
    assert cheap.step_time_s == pytest.approx(2 * (1.0 + 0.05) + 2 * 0.7)
    costly = solve(0.5)
    assert costly.methods == {"spatial": "dsp", "temporal": "dsp"}
    assert costly.step_time_s == pytest.approx(2 * 1.2 + 2 * 0.7)


@st.composite
def planner_sized_programs(draw: st.DrawFn) -> BlockProgram:
    """Programs the size of the presets': 1-3 groups of up to 60 blocks (HunyuanVideo: 20 mmdit
    + 40 full), up to 5 methods per type, a cap anywhere between all-full and all-none."""
    n_groups = draw(st.integers(1, 3))
    types = ["spatial", "temporal", "full"][:n_groups]
    counts = draw(st.lists(st.integers(1, 60), min_size=n_groups, max_size=n_groups))
    methods = ["ulysses", "ring", "usp", "fastseq", "dsp"][: draw(st.integers(1, 5))]
    items = [
        _draw_item(draw, g, t, m, mode)
        for (g, t), m, mode in itertools.product(enumerate(types), methods, MODES)
    ]
    if "dsp" in methods and "temporal" in types:
        items = [_with_surcharge(draw, i) for i in items]
    least = sum(c * min(i.activation_bytes for i in items if i.group_index == g)
                for g, c in enumerate(counts))  # fmt: skip
    most = sum(c * max(i.activation_bytes for i in items if i.group_index == g)
               for g, c in enumerate(counts))  # fmt: skip
    return BlockProgram(
        items=items, group_types=types, group_counts=counts,
        fixed_memory_bytes=10 * GIB,
        capacity_bytes=10 * GIB + least + draw(st.floats(0, 1)) * (most - least),
    )  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=planner_sized_programs())
def test_enumeration_equals_the_ilp_at_planner_size(program: BlockProgram) -> None:
    """Too large for brute force: the enumeration and HiGHS agree within HiGHS's default
    relative MIP gap (1e-4), and the enumeration is never worse (it is exact)."""
    listed = solve_blocks(program, route="enumeration")
    ilp = solve_blocks(program, route="ilp")
    assert listed.step_time_s <= ilp.step_time_s * (1 + 1e-9)
    assert listed.step_time_s == pytest.approx(ilp.step_time_s, rel=1e-4)
    assert listed.memory_bytes <= program.capacity_bytes


def test_auto_route_enumerates_small_programs() -> None:
    """The knapsack of two groups of 4 blocks is listed; a program past the work limit is not."""
    assert solve_blocks(_knapsack(60)).solver == "enumeration"
    assert enumeration_work(_knapsack(60)) <= ENUMERATION_MAX_WORK
    items = [
        BlockItem(group_index=g, block_type="full", ckpt=mode, time_s=t, activation_bytes=a * GIB)
        for g, (mode, t, a) in itertools.product(
            range(4), [("none", 1.0, 10), ("selective", 1.2, 4), ("full", 1.5, 1)]
        )
    ]
    big = BlockProgram(items=items, group_types=["full"] * 4, group_counts=[60] * 4,
                       fixed_memory_bytes=0, capacity_bytes=600 * GIB)  # fmt: skip
    assert enumeration_work(big) > ENUMERATION_MAX_WORK
    assert solve_blocks(big).solver == "highs"


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    pp=st.integers(1, 12),
    data=st.data(),
)
def test_model_ckpt_list_reads_back_as_the_stage_counts(counts, pp, data) -> None:
    """Whatever counts per mode the program picks for the slowest stage's blocks of each group,
    the per-block list built for the model reads back (layout.ckpt_mix, as predict reads it) as
    exactly those counts."""
    from parplan.cost.layout import ckpt_mix, stage_blocks
    from parplan.plan.program import BlockSolution, GroupChoice, model_ckpt_list
    from parplan.specs import ModelSpec

    model = ModelSpec(name="m", hidden=64, heads=1, blocks=[{"type": "full", "count": c} for c in counts])
    pp = min(pp, model.depth)
    stage = dict(stage_blocks(model, pp))
    choices = []
    for g in range(len(counts)):
        n = stage.get(g, 0)
        split = data.draw(st.sampled_from(_compositions(n, 3))) if n else (0, 0, 0)
        choices += [GroupChoice(group_index=g, block_type="full", method="m", ckpt=mode, blocks=k)
                    for mode, k in zip(MODES, split, strict=True) if k]  # fmt: skip
    solution = BlockSolution(choices=choices, methods={}, step_time_s=0, memory_bytes=0,
                             solver="test", solve_time_s=0)  # fmt: skip
    program = BlockProgram(items=[BlockItem(group_index=0, block_type="full", ckpt="none",
                                            time_s=0, activation_bytes=0)],
                           group_types=["full"] * len(counts),
                           group_counts=[stage.get(g, 0) for g in range(len(counts))],
                           capacity_bytes=1)  # fmt: skip
    modes = model_ckpt_list(solution, program, model)
    assert len(modes) == model.depth
    listed = StrategySpec(ckpt=modes)
    for g, n in stage.items():
        want = sorted((c.ckpt, c.blocks) for c in choices if c.group_index == g)
        assert sorted(ckpt_mix(listed, model, g, n)) == want


def test_compositions_count() -> None:
    """C(n + k - 1, k - 1) splits of n blocks over k items, each summing to n, none repeated."""
    for total, parts in itertools.product(range(6), range(1, 4)):
        rows = compositions(total, parts)
        assert len(rows) == math.comb(total + parts - 1, parts - 1)
        assert (rows.sum(axis=1) == total).all() and len({tuple(r) for r in rows}) == len(rows)


def test_cbc_and_highs_agree() -> None:
    cbc = solve_blocks(_knapsack(45), solver="cbc", route="ilp")
    highs = solve_blocks(_knapsack(45), solver="highs", route="ilp")
    assert cbc.step_time_s == pytest.approx(highs.step_time_s)
    assert cbc.solver == "cbc" and highs.solver == "highs"


def test_ckpt_per_block_lists_every_block() -> None:
    solution = solve_blocks(_knapsack(60))
    modes = solution.ckpt_per_block([4, 4])
    assert len(modes) == 8
    assert sorted(modes) == sorted(c.ckpt for c in solution.choices for _ in range(c.blocks))


# ----------------------------------------------------------------------- cluster size


def _curve(days: list[float | None]) -> list[SizePoint]:
    return [SizePoint(nodes=n + 1, gpus=8 * (n + 1), days=d) for n, d in enumerate(days)]


@settings(max_examples=40, deadline=None)
@given(
    days=st.lists(st.one_of(st.none(), st.floats(1, 100)), min_size=1, max_size=12),
    d1=st.floats(1, 100),
    d2=st.floats(1, 100),
)
def test_cluster_size_is_the_smallest_meeting_and_monotone(
    days: list[float | None], d1: float, d2: float
) -> None:
    curve = _curve(days)

    def size(deadline: float) -> int | None:
        try:
            return smallest_meeting(curve=curve, deadline_days=deadline).nodes
        except Infeasible:
            return None

    for deadline in (d1, d2):
        ok = [p.nodes for p in curve if p.days is not None and p.days <= deadline]
        assert size(deadline) == (min(ok) if ok else None)
    short, long_ = sorted((d1, d2))
    if size(short) is not None:
        assert size(long_) is not None and size(long_) <= size(short)


def test_deadline_infeasible_explains() -> None:
    with pytest.raises(Infeasible, match=r"needs 10\.0 days > deadline 5 days") as info:
        smallest_meeting(curve=_curve([40.0, 20.0, 10.0]), deadline_days=5)
    assert info.value.binding == "deadline"


def test_cbc_preprocessing_is_off() -> None:
    """A 4-group knapsack (cap 9.5 GiB) that hypothesis found: CBC 2.10.3 with its default
    preprocessing returned 5.95 s as optimal; brute force and HiGHS find 5.825 s (group 2 fully
    checkpointed, group 3 one selective + one full block). plan/ilp.py turns preprocessing off."""
    def item(g: int, mode: str, time_s: float, gib: int) -> BlockItem:
        return BlockItem(group_index=g, block_type="spatial", ckpt=mode, method="ulysses",
                         time_s=time_s, activation_bytes=gib * GIB)  # fmt: skip

    modes = {g: [("none", 1.0, 8), ("selective", 1.1, 3), ("full", 1.35, 1 if g < 2 else 2)]
             for g in range(4)}  # fmt: skip
    modes[2] = [("none", 1.0, 8), ("selective", 0.55, 3), ("full", 0.675, 2)]
    program = BlockProgram(items=[item(g, *m) for g, ms in modes.items() for m in ms],
                           group_types=["spatial"] * 4, group_counts=[1, 1, 1, 2],
                           capacity_bytes=10200547328.0)  # fmt: skip
    assert brute_force_blocks(program) == pytest.approx(5.825)
    assert solve_blocks(program, solver="cbc", route="ilp").step_time_s == pytest.approx(5.825)
