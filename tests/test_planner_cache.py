"""The planner's shared sub-results (cost/options.py `SharedWork`) against fresh evaluations: a
cached entry must be exactly what `resolve`, `evaluate_blocks` and `block_options` compute for
the strategy asked, whatever other strategies filled the cache first; and the untimed items
(`block_options(timed=False)`) bound the timed ones of every rank order, with the same memory."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parplan.cluster.comm_model import CommModel
from parplan.cost.block import comm_strategy, resolve
from parplan.cost.device import Device
from parplan.cost.options import SharedWork, block_options
from parplan.cost.stage import evaluate_blocks
from parplan.errors import SpecError
from parplan.plan.space import orders_for
from parplan.specs import StrategySpec, WorkloadSpec, load_cluster, load_model

MODEL = load_model("latte-xl-2")
WORKLOAD = WorkloadSpec(kind="video", frames=16, height=256, width=256, global_batch=16)
CLUSTER = load_cluster("h100-dgx-ndr400")
GPUS = 16


@st.composite
def strategies(draw: st.DrawFn) -> StrategySpec:
    tp, sp, pp = draw(st.sampled_from([(1, 2, 1), (2, 2, 1), (1, 4, 2), (2, 1, 2), (1, 8, 1)]))
    dp = GPUS // (tp * sp * pp)
    method = draw(st.sampled_from(["ulysses", "ring", "dsp"])) if sp > 1 else "none"
    degrees = {"dp": dp, "tp": tp, "sp": sp, "pp": pp}
    return StrategySpec(
        dp=dp, tp=tp, sp=sp, pp=pp, sp_method=method, megatron_sp=tp > 1,
        zero=draw(st.sampled_from([0, 1, 2, 3])), vpp=draw(st.sampled_from([1, 2])) if pp > 1 else 1,
        micro_batch=draw(st.sampled_from([1, 2])), global_batch=16,
        order=draw(st.sampled_from(orders_for(degrees))),
        ckpt=draw(st.sampled_from(["none", "full"])),
    )  # fmt: skip


def _blocks(inp):
    comm = CommModel(CLUSTER, comm_strategy(inp.strategy), GPUS)
    return evaluate_blocks(inp, comm, Device.of(CLUSTER, WORKLOAD.precision))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.lists(strategies(), max_size=4), asked=strategies())
def test_shared_work_equals_fresh_evaluation(first: list[StrategySpec], asked: StrategySpec) -> None:
    shared = SharedWork()
    for s in first:  # fill the cache with neighbours (other orders, ZeRO stages, vpp)
        try:
            block_options(MODEL, WORKLOAD, CLUSTER, s, GPUS, cache=shared)
        except SpecError:
            pass
    try:
        fresh_inp = resolve(MODEL, WORKLOAD, CLUSTER, asked, GPUS)
    except SpecError as err:
        with pytest.raises(SpecError, match=str(err)[:40].replace("(", r"\(").replace("*", r"\*")):
            shared.inputs(MODEL, WORKLOAD, CLUSTER, asked, GPUS)
        return
    inp = shared.inputs(MODEL, WORKLOAD, CLUSTER, asked, GPUS)
    assert inp == fresh_inp
    device = Device.of(CLUSTER, WORKLOAD.precision)
    assert shared.blocks(inp, CommModel(CLUSTER, comm_strategy(asked), GPUS), device) == _blocks(inp)
    assert block_options(MODEL, WORKLOAD, CLUSTER, asked, GPUS, cache=shared) == block_options(
        MODEL, WORKLOAD, CLUSTER, asked, GPUS
    )


def test_untimed_items_bound_every_order_with_the_same_memory() -> None:
    """Every collective at 0 s: each item and the fixed time are at most the timed ones in
    every rank order; activation and fixed memory are equal."""
    base = StrategySpec(dp=2, tp=2, sp=4, sp_method="ulysses", megatron_sp=True, zero=3,
                        global_batch=16)  # fmt: skip
    floor, floor_s, floor_b = block_options(MODEL, WORKLOAD, CLUSTER, base, GPUS, timed=False)
    for order in orders_for({"dp": 2, "tp": 2, "sp": 4, "pp": 1}):
        timed, fixed_s, fixed_b = block_options(
            MODEL, WORKLOAD, CLUSTER, base.model_copy(update={"order": order}), GPUS
        )
        assert floor_b == pytest.approx(fixed_b, rel=1e-12) and floor_s <= fixed_s
        for f, t in itertools.product(floor, timed):
            if (f.group_index, f.ckpt) == (t.group_index, t.ckpt):
                assert f.time_s <= t.time_s
                assert f.activation_bytes == pytest.approx(t.activation_bytes, rel=1e-12)


@pytest.mark.parametrize("model_name", ["latte-xl-2", "hunyuanvideo"])
def test_mfu_bound_is_above_every_layouts_mfu(model_name: str) -> None:
    """plan/mfu_bound.py: no layout of any grid size reaches more MFU than the bound (every
    core of 8 and 16 GPUs, each rank order's first, without and with full recompute)."""
    from parplan.cost.step import predict
    from parplan.plan.cost_model import default_cost_model
    from parplan.plan.mfu_bound import best_mfu_bound
    from parplan.plan.space import core_candidates, mix_fields, strategy_of
    from parplan.plan.state import Context, Search

    model = load_model(model_name)
    cluster = CLUSTER.model_copy(update={"nodes": 2})
    ctx = Context(model=model, workload=WORKLOAD, cluster=cluster, num_gpus=16, global_batch=16,
                  solver="highs", cost=default_cost_model())  # fmt: skip
    bound = best_mfu_bound(ctx, [8, 16], Search(top_k=1))
    best = 0.0
    for gpus in (8, 16):
        cores = core_candidates(model=model, num_gpus=gpus, global_batch=16, gpus_per_node=8,
                                per_type=True)  # fmt: skip
        for core, ckpt in itertools.product(cores, ("none", "full")):
            methods = {t: ms[0] for t, ms in (core.type_methods or {}).items()}
            fields = mix_fields(core, methods, model) if methods else None
            order = orders_for({"dp": core.dp, "tp": core.tp, "sp": core.sp, "pp": core.pp})[0]
            s = strategy_of(core, order=order, global_batch=16, ckpt=ckpt, sp_fields=fields)
            try:
                best = max(best, predict(model, WORKLOAD, cluster, s, gpus).mfu)
            except SpecError:
                continue
    assert 0 < best <= bound
