"""The collectives of a step outside the blocks' own (pipeline sends, DP/ZeRO gradients and
parameters, Megatron-SP's replicated-gradient all-reduces), and the full per-rank list that
`parplan smoke` measures at the c10d boundary (`step_collectives`)."""

from __future__ import annotations

from parplan.cluster.comm_ops import CollectiveCall
from parplan.cost.block import (
    Inputs,
    block_calls,
    block_inputs,
    block_shape,
    comm_strategy,
    dsp_switches_per_block,
    resolve,
)
from parplan.cost.layout import ckpt_mix, stage_params
from parplan.cost.stage import recomputed
from parplan.cost.strategies.dp import dp_microbatch_calls, dp_step_calls
from parplan.cost.strategies.pp import pp_microbatch_calls
from parplan.cost.strategies.tp import tp_replicated_grad_calls
from parplan.cost.strategies.zero_impl import dp_buckets, effective_zero
from parplan.specs import ClusterSpec, ModelSpec, StrategySpec, WorkloadSpec


def microbatch_calls(inp: Inputs) -> list[CollectiveCall]:
    """Once-per-micro-batch collectives outside the blocks (all exposed): pipeline sends."""
    return pp_calls(inp)


def tp_step_calls(inp: Inputs) -> list[CollectiveCall]:
    """Once-per-step TP all-reduces under Megatron-SP (exposed, after the last backward): the
    replicated per-block parameters, and on a DiT the replicated embedder/final-layer grads."""
    s, m = inp.strategy, inp.model
    if s.tp == 1:
        return []
    e = inp.layout.element_bytes
    calls = [
        call
        for index, count in inp.layout.stage_blocks
        for call in tp_replicated_grad_calls(
            params_replicated=inp.cost.blocks[index].params_replicated, element_bytes=e,
            blocks=count, megatron_sp=s.megatron_sp,
        )
    ]  # fmt: skip
    if s.megatron_sp and m.family == "dit" and inp.cost.embed_params:
        grads = inp.cost.embed_params * e / (1 if s.pp == 1 else 2)
        calls.append(CollectiveCall(op="all_reduce", dim="tp", buffer_bytes=grads, phase="step",
                                    label="tp.embed_grads"))  # fmt: skip
    return calls


def pp_calls(inp: Inputs) -> list[CollectiveCall]:
    s, g = inp.strategy, inp.geometry
    boundary = s.micro_batch * g.attention_tokens * inp.model.hidden * inp.layout.element_bytes
    boundary /= s.sp * (s.tp if s.megatron_sp else 1)
    return pp_microbatch_calls(boundary_bytes=boundary, pp=s.pp, vpp=s.vpp)


def dp_calls(inp: Inputs, *, per_microbatch: bool = False) -> list[CollectiveCall]:
    """DP/ZeRO gradient and parameter collectives, once per step (or, for ZeRO-2/3's gradient
    reduce-scatter, once per micro-batch), in the buckets `stack.zero_impl` uses."""
    s = inp.strategy
    params = int(stage_params(inp.cost, inp.layout, tp=s.tp, pp=s.pp, family=inp.model.family))
    zero = effective_zero(zero=s.zero, pp=s.pp)
    buckets = dp_buckets(  # the stated stage picks the wrapper: FSDP units stay per block
        impl=s.stack.zero_impl, zero=s.zero, params=params, element_bytes=inp.layout.element_bytes,
        group_size=s.dp * s.sp, blocks=sum(count for _, count in inp.layout.stage_blocks),
    )  # fmt: skip
    calls = dp_microbatch_calls if per_microbatch else dp_step_calls
    return calls(params=params, element_bytes=inp.layout.element_bytes, zero=zero,
                 group_size=s.dp * s.sp, buckets=buckets)  # fmt: skip


def step_collectives(
    model: ModelSpec, workload: WorkloadSpec, strategy: StrategySpec
) -> list[tuple[CollectiveCall, int]]:
    """Every collective one rank issues in one optimizer step, with its group size (for
    `parplan smoke`, which measures the same calls at the c10d boundary)."""
    inp = resolve(model, workload, _NO_CLUSTER, strategy)
    sizes = group_sizes(comm_strategy(strategy))
    switches = dsp_switches_per_block(model, strategy)
    calls: list[tuple[CollectiveCall, int]] = []
    m = inp.layout.microbatches
    for index, count in inp.layout.stage_blocks:
        view = block_inputs(inp, inp.cost.blocks[index].block_type)
        shape = block_shape(view, inp.cost.blocks[index])
        fwd, bwd = block_calls(view, shape, switches.get(shape.block_type, 0))
        for mode, n in ckpt_mix(strategy, model, index, count):
            recompute = [c for c in fwd if recomputed(c, mode)]
            calls += [(c.model_copy(update={"count": c.count * n * m}), sizes[c.dim])
                      for c in fwd + bwd + recompute]  # fmt: skip
    calls += [
        (c.model_copy(update={"count": c.count * inp.layout.microbatches}), sizes[c.dim])
        for c in microbatch_calls(inp)
    ]
    calls += [(c, sizes["dp_sp"]) for c in dp_calls(inp)]
    calls += [(c.model_copy(update={"count": c.count * m}), sizes["dp_sp"])
              for c in dp_calls(inp, per_microbatch=True)]  # fmt: skip
    calls += [(c, sizes["tp"]) for c in tp_step_calls(inp)]
    return calls


def group_sizes(s: StrategySpec) -> dict[str, int]:
    """Ranks per group of each dimension a CollectiveCall may name."""
    return {
        "dp": s.dp,
        "tp": s.tp,
        "sp": s.sp,
        "pp": s.pp,
        "ulysses": s.ulysses_degree if s.sp_method == "usp" else s.sp,
        "ring": s.ring_degree if s.sp_method == "usp" else s.sp,
        "dp_sp": s.dp * s.sp,
    }


def _placeholder_cluster() -> ClusterSpec:
    """step_collectives needs no hardware; resolve() only wants a spec to carry."""
    return ClusterSpec.model_validate(
        {
            "name": "none",
            "gpu": {
                "name": "none",
                "peak_tflops": {"fp32": 1.0},
                "memory_gib": 1,
                "hbm_gbyte_per_s": 1,
            },
            "gpus_per_node": 1,
            "nodes": 1,
            "intra_node": {"gbyte_per_s_per_gpu": 1},
            "inter_node": {"nics_per_node": 1, "gbit_per_s_per_nic": 1},
        }
    )


_NO_CLUSTER = _placeholder_cluster()
