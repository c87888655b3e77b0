"""Memory per GPU of one layout: model states by ZeRO stage, the activations the slowest stage
keeps (by checkpoint mode, times the micro-batches in flight), communication buffers and the
allocator margin. The formulas are in `memory`; this module sums them over the layout's blocks."""

from __future__ import annotations

from parplan.cost.attention import score_bytes_per_element
from parplan.cost.block import Inputs, block_inputs
from parplan.cost.layout import stage_params
from parplan.cost.memory import (
    activation_terms,
    allocator_margin_bytes,
    kept_activation_bytes,
    model_state_bytes,
    working_activation_bytes,
)
from parplan.cost.records import MemoryBreakdown
from parplan.cost.stage import BlockResult, modes_of
from parplan.cost.strategies.base import BlockShape
from parplan.cost.strategies.fastseq import fastseq_extra_activation_bytes
from parplan.cost.strategies.pp import in_flight_microbatches
from parplan.cost.strategies.ring import ring_kv_buffer_bytes
from parplan.cost.strategies.zero_impl import effective_zero
from parplan.specs import StackSpec


def memory_breakdown(inp: Inputs, blocks: list[BlockResult]) -> MemoryBreakdown:
    s, lay = inp.strategy, inp.layout
    params = stage_params(inp.cost, lay, tp=s.tp, pp=s.pp, family=inp.model.family)
    states = model_state_bytes(
        params_per_gpu=params,
        precision=inp.workload.precision,
        zero=effective_zero(zero=s.zero, pp=s.pp),
        shard_group=s.dp * s.sp,
    )
    kept, working = 0.0, 0.0
    for r in blocks:
        for mode, n in modes_of(inp, r):
            view = block_inputs(inp, r.shape.block_type)
            per_block_kept, per_block_working = block_activation_bytes(view, r.shape, mode)
            kept += n * per_block_kept
            working = max(working, per_block_working)
    in_flight = in_flight_microbatches(pp=s.pp, vpp=s.vpp, microbatches=lay.microbatches)
    activations = kept * in_flight + working + _head_activation_bytes(inp)
    buffers = _buffer_bytes(inp, blocks, params)
    live = (
        states.weights_bytes + states.grads_bytes + states.optimizer_bytes + activations + buffers
    )
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
    s = inp.strategy
    block = next(b for b in inp.cost.blocks if b.block_type == shape.block_type)
    terms = activation_terms(
        saved=block.activations,
        micro_batch=shape.micro_batch,
        element_bytes=shape.element_bytes,
        input_bytes=shape.x_bytes,
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
