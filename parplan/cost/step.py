"""The strategy cost model: step time, MFU, memory and the bottleneck of one parallel layout.

step = m·t_mb (slowest pipeline stage) + bubble + exposed DP/ZeRO communication + optimizer
       + online encoders,
t_mb = Σ blocks (forward + backward + recompute compute + exposed TP/SP/ZeRO-3 communication)
       + embedders + pipeline sends.
Compute follows a roofline (compute.py); collectives are timed on the cluster graph with every
group of a dimension running at once (comm_model.py); overlap rules are per strategy (below and
docs/cost_model.md). MFU counts model FLOPs (3 × forward); HFU adds the recomputed forward.
"""

from __future__ import annotations

import itertools

from pydantic import BaseModel, ConfigDict

from parplan.cluster.comm_model import CallTime, CommModel
from parplan.cluster.comm_ops import CollectiveCall
from parplan.cost.attention import score_bytes_per_element
from parplan.cost.block import (
    GEMM_BWD_OVER_FWD,
    ComputeParts,
    Inputs,
    block_calls,
    block_compute,
    block_inputs,
    block_shape,
    comm_strategy,
    dsp_switches_per_block,
    resolve,
    uniform_strategy,
)
from parplan.cost.bottleneck import ExposedKey, dim_name, find_bottleneck
from parplan.cost.device import Device
from parplan.cost.layout import ckpt_mix, stage_params
from parplan.cost.memory import (
    ALLOCATOR_FRACTION,
    activation_terms,
    allocator_margin_bytes,
    kept_activation_bytes,
    model_state_bytes,
    working_activation_bytes,
)
from parplan.cost.overlap import Exposed, exposed_seconds, step_exposed
from parplan.cost.records import BlockOption, Bottleneck, Breakdown, MemoryBreakdown, Prediction
from parplan.cost.strategies.base import BlockShape
from parplan.cost.strategies.dp import dp_microbatch_calls, dp_step_calls
from parplan.cost.strategies.dsp import dsp_switch_calls
from parplan.cost.strategies.fastseq import fastseq_extra_activation_bytes
from parplan.cost.strategies.pp import bubble_fraction, in_flight_microbatches, pp_microbatch_calls
from parplan.cost.strategies.ring import ring_kv_buffer_bytes
from parplan.cost.strategies.tp import tp_replicated_grad_calls
from parplan.errors import SpecError
from parplan.specs import (
    ELEMENT_BYTES,
    GIB,
    ClusterSpec,
    ModelSpec,
    StackSpec,
    StrategySpec,
    WorkloadSpec,
)

ADAM_BYTES_PER_PARAM = 28  # r/w fp32 master, m, v (24) + grad read + 16-bit weight write (4)
CROSS_ENTROPY_BYTES_PER_LOGIT = 48  # fp32 passes over the logits, fwd + bwd (see _cross_entropy_s)


# ------------------------------------------------------------------------------- predict


class BlockResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    group_index: int
    count: int
    parts: ComputeParts
    exposed: list[Exposed]  # per micro-batch, fwd + bwd (+ recompute for full ckpt)
    shape: BlockShape


def evaluate_blocks(inp: Inputs, comm: CommModel, device: Device) -> list[BlockResult]:
    switches = dsp_switches_per_block(inp.model, inp.strategy)
    results = []
    for index, count in inp.layout.stage_blocks:
        block = inp.cost.blocks[index]
        view = block_inputs(inp, block.block_type)  # the block type's own SP method
        shape = block_shape(view, block)
        parts = block_compute(view, block, shape, device)
        fwd, bwd = block_calls(view, shape, switches.get(block.block_type, 0))
        exposed = [
            Exposed(timed=(t := comm.time(c)), exposed_s=exposed_seconds(t, parts, view))
            for c in fwd + bwd
        ]
        results.append(
            BlockResult(group_index=index, count=count, parts=parts, exposed=exposed, shape=shape)
        )
    return results


def recomputed(call: CollectiveCall, ckpt: str) -> bool:
    """Does recomputing a block under `ckpt` issue this forward collective again? Full recompute
    repeats the forward's TP/SP collectives (Megatron recomputes them too) but not ZeRO-3's
    parameter gathers (FSDP/DeepSpeed recompute with the parameters gathered for backward);
    selective recompute of ring attention circulates K/V again."""
    if call.phase != "fwd":
        return False
    if ckpt == "full":
        return not call.label.startswith("zero3.")
    return ckpt == "selective" and call.label.startswith("ring.")


def _recompute_comm_s(result: BlockResult, ckpt: str) -> float:
    return sum(e.exposed_s for e in result.exposed if recomputed(e.timed.call, ckpt))


def block_step_time(result: BlockResult, ckpt: str) -> tuple[float, float]:
    """(compute incl. recompute, exposed comm) seconds of one block for one micro-batch."""
    p = result.parts
    comm = sum(e.exposed_s for e in result.exposed) + _recompute_comm_s(result, ckpt)
    return p.fwd_s + p.bwd_s + p.recompute_s(ckpt), comm


def predict(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
) -> Prediction:
    """Predict one step of `strategy`; SpecError on invalid degrees, fits=False if OOM."""
    gpus = num_gpus or strategy.world_size
    if gpus > cluster.num_gpus:
        raise SpecError(
            f"{gpus} GPUs exceed cluster '{cluster.name}': nodes*gpus_per_node = "
            f"{cluster.nodes}*{cluster.gpus_per_node} = {cluster.num_gpus}"
        )
    inp = resolve(model, workload, cluster, strategy, num_gpus)
    device = Device.of(cluster, workload.precision)
    comm = CommModel(cluster, comm_strategy(strategy), inp.layout.num_gpus)
    blocks = evaluate_blocks(inp, comm, device)
    return assemble(inp, blocks, comm, device)


def assemble(inp: Inputs, blocks: list[BlockResult], comm: CommModel, device: Device) -> Prediction:
    s, lay = inp.strategy, inp.layout
    m = lay.microbatches
    compute_mb = sum(n * block_step_time(r, mode)[0] for r in blocks for mode, n in _mix(inp, r))
    recompute_mb = sum(n * r.parts.recompute_s(mode) for r in blocks for mode, n in _mix(inp, r))
    embed_s = _embed_s(inp, device)
    items = _comm_items(inp, blocks, comm)
    exposed_mb = sum(i.exposed_s for i in items if i.per_microbatch) / m
    t_mb = compute_mb + embed_s + exposed_mb
    bubble_s = bubble_fraction(pp=s.pp, vpp=s.vpp, microbatches=m) * m * t_mb
    optimizer_s = _optimizer_s(inp, device)
    encoder_s = _encoder_s(inp, device)
    exposed_comm = sum(i.exposed_s for i in items)
    compute_s = m * (compute_mb + embed_s)
    step = compute_s + exposed_comm + bubble_s + optimizer_s + encoder_s
    breakdown = Breakdown(
        compute_s=compute_s,
        exposed_comm_s=exposed_comm,
        comm_s=_by_dim(items, exposed=False),
        exposed_comm_by_dim_s=_by_dim(items, exposed=True),
        bubble_s=bubble_s,
        optimizer_s=optimizer_s,
        encoder_s=encoder_s,
        recompute_s=m * recompute_mb,
    )
    memory = memory_breakdown(inp, blocks)
    bottleneck = find_bottleneck(_exposed_by_call(items), breakdown)
    return _prediction(inp, step, breakdown, memory, bottleneck, device)


class CommItem(BaseModel):
    """One collective's seconds per optimizer step, total and exposed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dim: str
    collective: str
    tier: str
    total_s: float
    exposed_s: float
    per_microbatch: bool


def _comm_items(inp: Inputs, blocks: list[BlockResult], comm: CommModel) -> list[CommItem]:
    """Every collective of the step with its total and exposed seconds: block collectives (twice
    for the forward under full recompute), per-micro-batch extras, and the DP/ZeRO step calls."""
    m = inp.layout.microbatches
    items = []
    for r in blocks:
        for (mode, blocks_in_mode), x in itertools.product(_mix(inp, r), r.exposed):
            repeat = 2 if recomputed(x.timed.call, mode) else 1
            n = m * blocks_in_mode * repeat
            items.append(_item(x.timed, total_s=n * x.timed.time_s, exposed_s=n * x.exposed_s, per_mb=True))
    for call in _microbatch_calls(inp):
        t = comm.time(call)
        items.append(_item(t, total_s=m * t.time_s, exposed_s=m * t.time_s, per_mb=True))
    windows = {"dp.param_all_gather": _fwd_window(blocks)}
    buckets = sum(count for _, count in inp.layout.stage_blocks)
    for call in _dp_calls(inp):
        t = comm.time(call)
        window = windows.get(call.label, _bwd_window(blocks))
        exposed = step_exposed(t, window_s=window, buckets=buckets)
        items.append(_item(t, total_s=t.time_s, exposed_s=exposed, per_mb=False))
    for call in _dp_calls(inp, per_microbatch=True):
        t = comm.time(call)
        exposed = step_exposed(t, window_s=_bwd_window(blocks), buckets=buckets)
        items.append(_item(t, total_s=m * t.time_s, exposed_s=m * exposed, per_mb=True))
    for call in _tp_step_calls(inp):
        t = comm.time(call)
        items.append(_item(t, total_s=t.time_s, exposed_s=t.time_s, per_mb=False))
    return items


def _item(t: CallTime, *, total_s: float, exposed_s: float, per_mb: bool) -> CommItem:
    return CommItem(dim=dim_name(t.call.dim), collective=f"{t.call.op} ({t.call.label})", tier=t.tier,
                    total_s=total_s, exposed_s=exposed_s, per_microbatch=per_mb)  # fmt: skip


def _by_dim(items: list[CommItem], *, exposed: bool) -> dict[str, float]:
    totals = {"dp": 0.0, "tp": 0.0, "sp": 0.0, "pp": 0.0}
    for i in items:
        totals[i.dim] += i.exposed_s if exposed else i.total_s
    return totals


def _exposed_by_call(items: list[CommItem]) -> dict[ExposedKey, float]:
    by_call: dict[ExposedKey, float] = {}
    for i in items:
        key = (i.dim, i.collective, i.tier)
        by_call[key] = by_call.get(key, 0.0) + i.exposed_s
    return by_call


def _mix(inp: Inputs, r: BlockResult) -> list[tuple[str, int]]:
    """(checkpoint mode, blocks) of one block group on the slowest stage."""
    return ckpt_mix(inp.strategy, inp.model, r.group_index, r.count)


def _fwd_window(blocks: list[BlockResult]) -> float:
    return sum(r.count * r.parts.fwd_s for r in blocks)


def _bwd_window(blocks: list[BlockResult]) -> float:
    return sum(r.count * r.parts.bwd_s for r in blocks)


def _embed_s(inp: Inputs, device: Device) -> float:
    """Embedders and output head (patchify, timestep/text MLPs, vocab head): fwd + bwd. GPT's
    vocabulary head is TP-split; DiT embedders are replicated on every TP rank (stage_params)."""
    s = inp.strategy
    tp_split = s.tp if inp.model.family == "gpt" else 1
    flops = inp.cost.embed_flops * s.micro_batch / (tp_split * s.sp) * (1 + GEMM_BWD_OVER_FWD)
    if s.pp > 1:
        flops /= 2  # the head and the embedders sit on different stages
    return device.gemm_s(flops=flops, bytes_moved=0.0, kernels=0) + _cross_entropy_s(inp, device)


def _cross_entropy_s(inp: Inputs, device: Device) -> float:
    """GPT loss over the vocabulary: Megatron's vocab-parallel cross-entropy
    (megatron/core/tensor_parallel/cross_entropy.py) upcasts the logits to fp32 and makes ~8
    passes forward (cast, max, subtract, exp, sum, log, gather) and ~4 backward (softmax - one-hot,
    cast back): ~48 bytes of HBM traffic per logit. DiT losses are over latents: negligible."""
    m, s = inp.model, inp.strategy
    if m.family != "gpt" or not m.vocab:
        return 0.0
    logits = s.micro_batch * inp.geometry.tokens / s.sp * m.vocab / s.tp
    return device.memory_bound_s(bytes_moved=CROSS_ENTROPY_BYTES_PER_LOGIT * logits, kernels=12)


def _microbatch_calls(inp: Inputs) -> list[CollectiveCall]:
    """Once-per-micro-batch collectives outside the blocks (all exposed): pipeline sends."""
    return _pp_calls(inp)


def _tp_step_calls(inp: Inputs) -> list[CollectiveCall]:
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


def _pp_calls(inp: Inputs) -> list[CollectiveCall]:
    s, g = inp.strategy, inp.geometry
    boundary = s.micro_batch * g.attention_tokens * inp.model.hidden * inp.layout.element_bytes
    boundary /= s.sp * (s.tp if s.megatron_sp else 1)
    return pp_microbatch_calls(boundary_bytes=boundary, pp=s.pp, vpp=s.vpp)


def _dp_calls(inp: Inputs, *, per_microbatch: bool = False) -> list[CollectiveCall]:
    """DP/ZeRO gradient and parameter collectives, once per step (or, for ZeRO-2/3's gradient
    reduce-scatter, once per micro-batch)."""
    s = inp.strategy
    params = stage_params(inp.cost, inp.layout, tp=s.tp, pp=s.pp, family=inp.model.family)
    calls = dp_microbatch_calls if per_microbatch else dp_step_calls
    return calls(
        params=int(params),
        element_bytes=inp.layout.element_bytes,
        zero=s.zero,
        group_size=s.dp * s.sp,
    )


def _optimizer_s(inp: Inputs, device: Device) -> float:
    """Adam is memory-bound: ~28 bytes of HBM traffic per parameter it updates."""
    s = inp.strategy
    params = stage_params(inp.cost, inp.layout, tp=s.tp, pp=s.pp, family=inp.model.family)
    shard = s.dp * s.sp if s.zero >= 1 else 1
    return device.memory_bound_s(bytes_moved=ADAM_BYTES_PER_PARAM * params / shard, kernels=1)


def _encoder_s(inp: Inputs, device: Device) -> float:
    """Online VAE / text encoding of this GPU's samples (every SP/TP rank encodes its group's
    samples, as Open-Sora does). The text encoder runs at `stack.text_encoder_precision` when
    set: a forward of dense GEMMs on that precision's peak, its weights read once per micro-batch."""
    if inp.cost.encoder_flops == 0:
        return 0.0
    text = _text_encoder_flops(inp)
    vae = inp.cost.encoder_flops - text
    samples = inp.layout.microbatches * inp.strategy.micro_batch
    return device.conv_s(flops=vae * samples) + _text_encoder_s(inp, device, text * samples)


def _text_encoder_s(inp: Inputs, device: Device, flops: float) -> float:
    if flops == 0:
        return 0.0
    precision = inp.strategy.stack.text_encoder_precision or inp.workload.precision
    if precision != inp.workload.precision:
        device = Device.of(inp.cluster, precision)
    weights = inp.model.text_encoder.params * ELEMENT_BYTES[precision]
    return device.gemm_s(flops=flops, bytes_moved=weights * inp.layout.microbatches, kernels=0)


def _text_encoder_flops(inp: Inputs) -> float:
    enc = inp.model.text_encoder
    if enc is None or "text" not in inp.workload.online_encoding:
        return 0.0
    return 2.0 * enc.params * enc.tokens  # dense forward: 2 FLOP per parameter per token


# ------------------------------------------------------------------------------- memory


def memory_breakdown(inp: Inputs, blocks: list[BlockResult]) -> MemoryBreakdown:
    s, lay = inp.strategy, inp.layout
    params = stage_params(inp.cost, lay, tp=s.tp, pp=s.pp, family=inp.model.family)
    states = model_state_bytes(
        params_per_gpu=params, precision=inp.workload.precision, zero=s.zero, shard_group=s.dp * s.sp
    )
    kept, working = 0.0, 0.0
    for r in blocks:
        for mode, n in _mix(inp, r):
            view = block_inputs(inp, r.shape.block_type)
            per_block_kept, per_block_working = block_activation_bytes(view, r.shape, mode)
            kept += n * per_block_kept
            working = max(working, per_block_working)
    in_flight = in_flight_microbatches(pp=s.pp, vpp=s.vpp, microbatches=lay.microbatches)
    activations = kept * in_flight + working + _head_activation_bytes(inp)
    buffers = _buffer_bytes(inp, blocks, params)
    live = states.weights_bytes + states.grads_bytes + states.optimizer_bytes + activations + buffers
    margin = allocator_margin_bytes(live)
    return MemoryBreakdown(
        weights_bytes=states.weights_bytes,
        grads_bytes=states.grads_bytes,
        optimizer_bytes=states.optimizer_bytes,
        activations_bytes=activations,
        buffers_bytes=buffers,
        margin_bytes=margin,
        total_bytes=live + margin,
        capacity_bytes=inp.cluster.gpu.memory_bytes,
    )


def block_activation_bytes(inp: Inputs, shape: BlockShape, ckpt: str) -> tuple[float, float]:
    """(kept for backward, live during this block's backward) bytes of one block on one GPU."""
    s, m = inp.strategy, inp.model
    terms = activation_terms(
        x_bytes=shape.x_bytes,
        x_kv_bytes=shape.x_kv_bytes,
        text_kv_bytes=2 * shape.text_bytes,
        self_attentions=shape.self_attentions,
        cross_attention=shape.cross_attention,
        ffn_ratio=m.ffn / m.hidden,
        ffn_matrices=3 if m.mlp == "swiglu" else 2,
        adaln=m.family == "dit",
        scores_bytes=_scores_bytes(s.stack, shape),
    )
    kept = kept_activation_bytes(terms, ckpt=ckpt, tp=s.tp, sp=s.sp, megatron_sp=s.megatron_sp)
    if s.sp_method == "fastseq" and ckpt != "full":
        kept += fastseq_extra_activation_bytes(shape, degree=s.sp) / (s.tp if s.megatron_sp else 1)
    working = working_activation_bytes(terms, tp=s.tp, sp=s.sp, megatron_sp=s.megatron_sp)
    if s.ring_degree > 1:
        working += ring_kv_buffer_bytes(shape, shard=s.sp) / s.tp
    return kept, working


def _scores_bytes(stack: StackSpec, shape: BlockShape) -> float:
    if stack.attention != "unfused":
        return 0.0
    e = score_bytes_per_element(element_bytes=shape.element_bytes, dropout=stack.attention_dropout)
    return shape.score_elements * e


def _head_activation_bytes(inp: Inputs) -> float:
    """GPT output head: 16-bit logits plus fp32 softmax/grad of the vocab-parallel slice."""
    m, s = inp.model, inp.strategy
    if m.family != "gpt" or not m.vocab:
        return 0.0
    rows = s.micro_batch * inp.geometry.tokens / s.sp
    return rows * m.vocab * (2 + 4) / s.tp


def _buffer_bytes(inp: Inputs, blocks: list[BlockResult], params: float) -> float:
    """Communication buffers: the largest per-micro-batch collective, double-buffered, plus the
    DP gradient bucket (Megatron DDP: 40M elements) and ZeRO-3's prefetched layer."""
    e = inp.layout.element_bytes
    largest = max((x.timed.call.buffer_bytes for r in blocks for x in r.exposed), default=0.0)
    bucket = min(params, 40e6) * e if inp.strategy.dp * inp.strategy.sp > 1 else 0.0
    return 2 * largest + bucket


# ---------------------------------------------------------------------------- reporting


def _prediction(
    inp: Inputs,
    step: float,
    breakdown: Breakdown,
    memory: MemoryBreakdown,
    bottleneck: Bottleneck,
    device: Device,
) -> Prediction:
    lay = inp.layout
    peak = device.peak_flop_per_s
    model_flops = inp.cost.train_flops * lay.global_batch
    hw_flops = model_flops + _recompute_flops(inp) * lay.global_batch
    achieved = model_flops / step / lay.num_gpus
    return Prediction(
        strategy=inp.strategy,
        num_gpus=lay.num_gpus,
        step_time_s=step,
        mfu=achieved / peak,
        hfu=hw_flops / step / lay.num_gpus / peak,
        tflops_per_gpu=achieved / 1e12,
        tokens_per_s_per_gpu=lay.global_batch * inp.geometry.tokens / step / lay.num_gpus,
        samples_per_s=lay.global_batch / step,
        memory_gib_per_gpu=memory.total_bytes / GIB,
        fits=memory.total_bytes <= memory.capacity_bytes,
        breakdown=breakdown,
        memory=memory,
        bottleneck=bottleneck,
        notes=list(inp.geometry.warnings) + _stack_notes(inp.strategy),
    )


def _stack_notes(s: StrategySpec) -> list[str]:
    if s.stack.tp_comm_overlap and s.tp > 1 and not s.megatron_sp:
        return ["tp_comm_overlap overlaps Megatron-SP's all-gather/reduce-scatter; without "
                "megatron_sp the TP all-reduce stays exposed (Transformer Engine does not split it)"]  # fmt: skip
    return []


def _recompute_flops(inp: Inputs) -> float:
    """Forward FLOPs per sample redone by activation checkpointing."""
    total = 0.0
    for index, block in enumerate(inp.cost.blocks):
        for mode, n in ckpt_mix(inp.strategy, inp.model, index, block.count):
            per_block = {"none": 0.0, "selective": block.attention_flops,
                         "full": block.gemm_flops + block.attention_flops}[mode]
            total += per_block * n
    return total


# ---------------------------------------------------------------- interfaces for others


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
        for c in _microbatch_calls(inp)
    ]
    calls += [(c, sizes["dp_sp"]) for c in _dp_calls(inp)]
    calls += [(c.model_copy(update={"count": c.count * m}), sizes["dp_sp"])
              for c in _dp_calls(inp, per_microbatch=True)]  # fmt: skip
    calls += [(c, sizes["tp"]) for c in _tp_step_calls(inp)]
    return calls


def group_sizes(s: StrategySpec) -> dict[str, int]:
    """Ranks per group of each dimension a CollectiveCall may name."""
    return {
        "dp": s.dp, "tp": s.tp, "sp": s.sp, "pp": s.pp,
        "ulysses": s.ulysses_degree if s.sp_method == "usp" else s.sp,
        "ring": s.ring_degree if s.sp_method == "usp" else s.sp,
        "dp_sp": s.dp * s.sp,
    }


def _placeholder_cluster() -> ClusterSpec:
    """step_collectives needs no hardware; resolve() only wants a spec to carry."""
    return ClusterSpec.model_validate({
        "name": "none",
        "gpu": {"name": "none", "peak_tflops": {"fp32": 1.0}, "memory_gib": 1, "hbm_gbyte_per_s": 1},
        "gpus_per_node": 1, "nodes": 1,
        "intra_node": {"gbyte_per_s_per_gpu": 1},
        "inter_node": {"nics_per_node": 1, "gbit_per_s_per_nic": 1},
    })


_NO_CLUSTER = _placeholder_cluster()


def block_options(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
) -> tuple[list[BlockOption], float, float]:
    """The ILP's knapsack items: per block group × checkpoint mode, one block's seconds per
    step and kept activation bytes; plus the fixed time and fixed memory of everything else.
    step ≈ fixed_time + Σ time_s and memory ≈ fixed_memory + Σ activation_bytes (exact for
    pp = 1; for pp > 1 the per-block terms include the schedule's (m + bubble) factor)."""
    run = _block_run(model, workload, cluster, strategy, num_gpus)
    return run.options, run.fixed_time_s, run.fixed_memory_bytes


class _BlockRun(BaseModel):
    """One evaluation behind `block_options`, kept for the per-method surcharges."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    inp: Inputs
    comm: CommModel
    blocks: list[BlockResult]
    factor: float  # a block's per-micro-batch seconds -> seconds per step (m x (1 + bubble))
    options: list[BlockOption]
    fixed_time_s: float
    fixed_memory_bytes: float


def _block_run(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None,
) -> _BlockRun:
    uniform = strategy.model_copy(update={"ckpt": "none"})
    inp = resolve(model, workload, cluster, uniform, num_gpus)
    device = Device.of(cluster, workload.precision)
    comm = CommModel(cluster, comm_strategy(uniform), inp.layout.num_gpus)
    blocks = evaluate_blocks(inp, comm, device)
    base = assemble(inp, blocks, comm, device)
    s, m = uniform, inp.layout.microbatches
    factor = m * (1 + bubble_fraction(pp=s.pp, vpp=s.vpp, microbatches=m))
    in_flight = in_flight_microbatches(pp=s.pp, vpp=s.vpp, microbatches=m)
    options: list[BlockOption] = []
    for r in blocks:
        # per block of the whole model: the slowest stage holds r.count of the group's blocks
        share = r.count / model.blocks[r.group_index].count
        view = block_inputs(inp, r.shape.block_type)
        for ckpt in ("none", "selective", "full"):
            kept, _ = block_activation_bytes(view, r.shape, ckpt)
            options.append(BlockOption(
                group_index=r.group_index, block_type=r.shape.block_type,
                count=model.blocks[r.group_index].count, ckpt=ckpt,
                time_s=share * factor * sum(block_step_time(r, ckpt)),
                activation_bytes=share * in_flight * kept * (1 + ALLOCATOR_FRACTION),
            ))  # fmt: skip
    on_stage = {r.group_index for r in blocks}
    for index, group in enumerate(model.blocks):  # groups with no block on the slowest stage
        if index not in on_stage:
            options += [
                BlockOption(group_index=index, block_type=group.type, count=group.count,
                            ckpt=ckpt, time_s=0.0, activation_bytes=0.0)
                for ckpt in ("none", "selective", "full")
            ]  # fmt: skip
    block_time_total = sum(o.count * o.time_s for o in options if o.ckpt == "none")
    block_mem_total = sum(o.count * o.activation_bytes for o in options if o.ckpt == "none")
    return _BlockRun(
        inp=inp, comm=comm, blocks=blocks, factor=factor, options=options,
        fixed_time_s=base.step_time_s - block_time_total,
        fixed_memory_bytes=base.memory.total_bytes - block_mem_total,  # margin already inside
    )  # fmt: skip


# ------------------------------------------------------------- per-block-type SP methods


class SpOption(BlockOption):
    """A knapsack item under one SP method. `surcharge_s` is paid per block when block type
    `surcharge_if` runs DSP: the layout switches this (non-DSP) block then carries."""

    method: str
    surcharge_s: float = 0.0
    surcharge_if: str | None = None


class SpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    options: list[SpOption]
    # everything outside the blocks, the least over the methods: buffers, the working set and
    # the DP overlap window depend on the methods a little (docs/solver.md §1, "Mixes")
    fixed_time_s: float
    fixed_memory_bytes: float
    dropped: dict[str, str]  # method -> why it cannot run here (SpecError)


def sp_block_options(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    methods: dict[str, list[str]],
    num_gpus: int | None = None,
    cache: dict[str, _BlockRun | str] | None = None,
) -> SpOptions:
    """Knapsack items for every (block group, SP method offered to its type, checkpoint mode):
    one `block_options` run per method with that method on every block, plus the DSP-switch
    surcharges of mixes (block_model.dsp_switches_per_block). `strategy` carries the degrees
    and the USP split; SpecError when no method can run. `cache` (one model, workload, cluster
    and GPU count) keeps each method's run for the next call with the same uniform strategy."""
    cache = {} if cache is None else cache
    runs: dict[str, _BlockRun] = {}
    dropped: dict[str, str] = {}
    for method in sorted({m for ms in methods.values() for m in ms}):
        uniform = uniform_strategy(strategy, method)
        key = uniform.model_dump_json()
        if key not in cache:
            try:
                cache[key] = _block_run(model, workload, cluster, uniform, num_gpus)
            except SpecError as err:
                cache[key] = str(err)
        found = cache[key]
        if isinstance(found, str):
            dropped[method] = found
        else:
            runs[method] = found
    if not runs:
        raise SpecError(next(iter(dropped.values())))
    options = [
        SpOption(**o.model_dump(), method=method, **_surcharge(model, methods, run, o))
        for method, run in runs.items()
        for o in run.options
        if method in methods.get(o.block_type, ())
    ]
    return SpOptions(
        options=options,
        fixed_time_s=min(r.fixed_time_s for r in runs.values()),
        fixed_memory_bytes=min(r.fixed_memory_bytes for r in runs.values()),
        dropped=dropped,
    )


def _surcharge(
    model: ModelSpec, methods: dict[str, list[str]], run: _BlockRun, option: BlockOption
) -> dict:
    """A non-DSP block of the type that carries the switches (the scarcer of spatial and
    temporal) pays them when the other type runs DSP; its DSP items already include them."""
    other = {"spatial": "temporal", "temporal": "spatial"}.get(option.block_type)
    s = run.inp.strategy
    if other is None or s.sp_method == "dsp" or "dsp" not in methods.get(other, ()):
        return {}
    mixed = s.model_copy(update={"sp_methods": {other: "dsp"}})
    switches = dsp_switches_per_block(model, mixed).get(option.block_type, 0)
    result = next((r for r in run.blocks if r.group_index == option.group_index), None)
    if not switches or result is None:
        return {}
    view = block_inputs(run.inp, option.block_type)
    fwd, bwd = dsp_switch_calls(result.shape, degree=s.sp, switches=switches)
    per_mb = sum(
        exposed_seconds(run.comm.time(c), result.parts, view)
        * (2 if recomputed(c, option.ckpt) else 1)
        for c in fwd + bwd
    )
    share = result.count / model.blocks[option.group_index].count
    return {"surcharge_s": share * run.factor * per_mb, "surcharge_if": other}
