"""The strategy cost model: step time, MFU, memory and the bottleneck of one parallel layout.

step = m·t_mb (slowest pipeline stage) + bubble + exposed DP/ZeRO communication + optimizer
       + online encoders,
t_mb = Σ blocks (forward + backward + recompute compute + exposed TP/SP/ZeRO-3 communication)
       + embedders + pipeline sends.
Compute follows a roofline (device.py); collectives are timed on the cluster graph with every
group of a dimension running at once (cluster/comm_model.py); overlap rules are per strategy (below and
docs/cost_model.md). MFU counts model FLOPs (3 × forward); HFU adds the recomputed forward.
"""

from __future__ import annotations

import itertools

from pydantic import BaseModel, ConfigDict

from parplan.cluster.comm_model import CallTime, CommModel
from parplan.cost.block import (
    GEMM_BWD_OVER_FWD,
    Inputs,
    comm_strategy,
    resolve,
)
from parplan.cost.bottleneck import ExposedKey, dim_name, find_bottleneck
from parplan.cost.device import Device
from parplan.cost.footprint import memory_breakdown
from parplan.cost.layout import ckpt_mix, stage_params
from parplan.cost.overlap import step_exposed
from parplan.cost.records import Bottleneck, Breakdown, MemoryBreakdown, Prediction
from parplan.cost.stage import BlockResult, block_step_time, evaluate_blocks, modes_of, recomputed
from parplan.cost.step_calls import dp_calls, microbatch_calls, tp_step_calls
from parplan.cost.strategies.pp import bubble_fraction
from parplan.cost.strategies.zero_impl import deepspeed_prefetch_note
from parplan.errors import SpecError
from parplan.specs import (
    ELEMENT_BYTES,
    GIB,
    ClusterSpec,
    ModelSpec,
    StrategySpec,
    WorkloadSpec,
)

ADAM_BYTES_PER_PARAM = 28  # r/w fp32 master, m, v (24) + grad read + 16-bit weight write (4)
CROSS_ENTROPY_BYTES_PER_LOGIT = 48  # fp32 passes over the logits, fwd + bwd (see _cross_entropy_s)


# ------------------------------------------------------------------------------- predict


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
    compute_mb = sum(n * block_step_time(r, mode)[0] for r in blocks for mode, n in modes_of(inp, r))
    recompute_mb = sum(n * r.parts.recompute_s(mode) for r in blocks for mode, n in modes_of(inp, r))
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
        for (mode, blocks_in_mode), x in itertools.product(modes_of(inp, r), r.exposed):
            repeat = 2 if recomputed(x.timed.call, mode) else 1
            n = m * blocks_in_mode * repeat
            items.append(_item(x.timed, total_s=n * x.timed.time_s, exposed_s=n * x.exposed_s, per_mb=True))
    for call in microbatch_calls(inp):
        t = comm.time(call)
        items.append(_item(t, total_s=m * t.time_s, exposed_s=m * t.time_s, per_mb=True))
    windows = {"dp.param_all_gather": _fwd_window(blocks)}
    for call in dp_calls(inp):
        t = comm.time(call)
        window = windows.get(call.label, _bwd_window(blocks))
        exposed = step_exposed(t, window_s=window, buckets=call.count)
        items.append(_item(t, total_s=t.time_s, exposed_s=exposed, per_mb=False))
    for call in dp_calls(inp, per_microbatch=True):
        t = comm.time(call)
        exposed = step_exposed(t, window_s=_bwd_window(blocks), buckets=call.count)
        items.append(_item(t, total_s=m * t.time_s, exposed_s=m * exposed, per_mb=True))
    for call in tp_step_calls(inp):
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
    vae_device = _device_at(inp, device, _vae_precision(inp, device))
    return vae_device.conv_s(flops=vae * samples) + _text_encoder_s(inp, device, text * samples)


def _device_at(inp: Inputs, device: Device, precision: str) -> Device:
    """`device` where `precision` is the workload's; else the same GPU on that precision's peak."""
    return device if precision == inp.workload.precision else Device.of(inp.cluster, precision)


# The VAE encoder runs no-grad, outside the DiT's precision: fast-DiT's fp32 and AMP rows encode
# the same way (outside accelerate's autocast, TF32 convolutions; 0.596 s in both, its README),
# and fp8 recipes keep the VAE in bf16. `conv_max` is a fraction of the 16-bit peak (device.py).
VAE_PEAK_PRECISIONS = ("bf16", "fp16")


def _vae_precision(inp: Inputs, device: Device) -> str:
    peaks = inp.cluster.gpu.peak_tflops
    sixteen = next((p for p in VAE_PEAK_PRECISIONS if p in peaks), None)
    if inp.workload.precision in VAE_PEAK_PRECISIONS or device.arch == "cpu" or sixteen is None:
        return inp.workload.precision  # already 16-bit, the CPU, or a spec with no 16-bit peak
    return sixteen


def _text_encoder_s(inp: Inputs, device: Device, flops: float) -> float:
    if flops == 0:
        return 0.0
    precision = inp.strategy.stack.text_encoder_precision or inp.workload.precision
    device = _device_at(inp, device, precision)
    weights = inp.model.text_encoder.params * ELEMENT_BYTES[precision]
    return device.gemm_s(flops=flops, bytes_moved=weights * inp.layout.microbatches, kernels=0)


def _text_encoder_flops(inp: Inputs) -> float:
    enc = inp.model.text_encoder
    if enc is None or "text" not in inp.workload.online_encoding:
        return 0.0
    return 2.0 * enc.params * enc.tokens  # dense forward: 2 FLOP per parameter per token


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
        notes=list(inp.geometry.warnings) + _stack_notes(inp),
    )


def _stack_notes(inp: Inputs) -> list[str]:
    s = inp.strategy
    params = stage_params(inp.cost, inp.layout, tp=s.tp, pp=s.pp, family=inp.model.family)
    notes = deepspeed_prefetch_note(impl=s.stack.zero_impl, zero=s.zero, params_per_gpu=params)
    if s.stack.tp_comm_overlap and s.tp > 1 and not s.megatron_sp:
        notes.append("tp_comm_overlap overlaps Megatron-SP's all-gather/reduce-scatter; without "
                     "megatron_sp the TP all-reduce stays exposed (Transformer Engine does not "
                     "split it)")  # fmt: skip
    return notes


def _recompute_flops(inp: Inputs) -> float:
    """Forward FLOPs per sample redone by activation checkpointing."""
    total = 0.0
    for index, block in enumerate(inp.cost.blocks):
        for mode, n in ckpt_mix(inp.strategy, inp.model, index, block.count):
            per_block = {"none": 0.0, "selective": block.attention_flops,
                         "full": block.gemm_flops + block.attention_flops}[mode]
            total += per_block * n
    return total


