"""The slowest pipeline stage's blocks, each evaluated once per micro-batch: compute parts and
the exposed seconds of every collective it issues (the unit `step`, `footprint` and `options`
assemble)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.cluster.comm_model import CommModel
from parplan.cluster.comm_ops import CollectiveCall
from parplan.cost.block import (
    ComputeParts,
    Inputs,
    block_calls,
    block_compute,
    block_inputs,
    block_shape,
    dsp_switches_per_block,
)
from parplan.cost.device import Device
from parplan.cost.layout import ckpt_mix
from parplan.cost.overlap import Exposed, exposed_seconds
from parplan.cost.strategies.base import BlockShape


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


def modes_of(inp: Inputs, r: BlockResult) -> list[tuple[str, int]]:
    """(checkpoint mode, blocks) of one block group on the slowest stage."""
    return ckpt_mix(inp.strategy, inp.model, r.group_index, r.count)
