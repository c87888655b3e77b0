"""The best MFU any layout can reach at any cluster size: deadline mode's lower bound on GPUs.

For a layout with degrees dp, tp, sp, pp and micro-batch b on N = dp·tp·sp·pp GPUs, `predict`'s
MFU is F·B / (step · N · peak), with F the model FLOPs of one sample's step and B the global
batch. The step is at least the compute floor the search already prunes with (cost/floors.py):
m · (1 + bubble) · c, where m = B / (dp·b) micro-batches and c is the slowest stage's blocks'
forward + backward compute for one micro-batch, without recompute or communication. Since
m · N = B · tp·sp·pp / b,

    MFU <= F · b / (tp·sp·pp · peak · c)                              (dp and N cancel out)

so the best MFU over every layout of every size is the largest right-hand side over the GPU
shapes (tp, sp, SP method, pp, b) the search can reach on the node grid. c is the sum over the
stage's blocks of one block's compute, which does not depend on pp (`shape_compute`,
taken once at pp = 1, dp = 1) times `layout.stage_blocks`' counts, the cost model's own split.
With SP methods per block type, each type takes its cheapest method (no mix is faster).

Then days(N) >= samples · F / (N · peak · MFU_max) / 86,400 at every N: sizes below the first
grid size where this reaches the deadline are pruned without planning (deadline.py).
"""

from __future__ import annotations

import itertools
import math

from parplan.cost.block import uniform_strategy
from parplan.cost.layout import stage_blocks
from parplan.errors import SpecError
from parplan.plan.space import (
    CANONICAL_ORDER,
    Core,
    divisors,
    mix_variants,
    sp_variants,
    strategy_of,
)
from parplan.plan.state import Context, Search, cache_kwargs


def best_mfu_bound(ctx: Context, grid_gpus: list[int], search: Search) -> float:
    """An upper bound on the MFU of every layout at every size of `grid_gpus` (module doc);
    inf when the cost model has no per-block compute floor (nothing is pruned then)."""
    if not hasattr(ctx.cost, "shape_compute"):
        return math.inf
    reach = sorted({d for n in grid_gpus for d in divisors(n)})
    m = ctx.model
    tps = [t for t in reach if t <= ctx.cluster.gpus_per_node and m.heads % t == 0
           and m.n_kv_heads % t == 0]  # fmt: skip
    pps = [p for p in reach if p <= m.depth]
    best = 0.0
    for tp, sp in itertools.product(tps, reach):
        for fields, methods in _variants(ctx, tp=tp, sp=sp):
            for micro_batch in divisors(ctx.global_batch):
                core = Core(dp=1, tp=tp, sp=sp, pp=1, vpp=1, zero=0, micro_batch=micro_batch,
                            sp_fields=fields, type_methods=methods)  # fmt: skip
                best = max(best, _core_bound(core, pps, ctx, search))
    return best if best > 0 else math.inf


def _variants(ctx: Context, *, tp: int, sp: int) -> list[tuple[dict, dict | None]]:
    """The SP variants of `space.core_candidates` for these degrees."""
    variants = sp_variants(sp=sp, heads_per_tp=ctx.model.heads // tp, model=ctx.model,
                           ring_ok=ctx.stack.fused_attention)  # fmt: skip
    types = {g.type for g in ctx.model.blocks}
    per_type = len(types) > 1 and hasattr(ctx.cost, "sp_block_options")
    if per_type and sp > 1:
        return list(mix_variants(variants, ctx.model))
    return [(v, None) for v in variants]


def _core_bound(core: Core, pps: list[int], ctx: Context, search: Search) -> float:
    """max over pp of F·b / (tp·sp·pp · peak · c(pp)) for one GPU shape; 0 if it cannot run."""
    per_block = _least_block_compute(core, ctx, search)
    if per_block is None:
        return 0.0
    base = strategy_of(core, order=CANONICAL_ORDER, global_batch=ctx.global_batch, stack=ctx.stack)
    shape = ctx.cost.shape_compute(
        ctx.model, ctx.workload, ctx.cluster, base, core.tp * core.sp, **cache_kwargs(ctx, search)
    )
    flops, peak = shape.train_flops_per_sample, shape.peak_flop_per_s
    best = 0.0
    for pp in pps:
        stage_s = sum(n * per_block[g] for g, n in stage_blocks(ctx.model, pp))
        if stage_s > 0:
            split = core.tp * core.sp * pp
            best = max(best, flops * core.micro_batch / (split * peak * stage_s))
    return best


def _least_block_compute(core: Core, ctx: Context, search: Search) -> dict[int, float] | None:
    """One block's compute per group at this shape, the least over the SP methods its type
    may run; None when no method can run (SpecError: heads, tokens)."""
    base = strategy_of(core, order=CANONICAL_ORDER, global_batch=ctx.global_batch, stack=ctx.stack)
    offered = core.type_methods or {g.type: [None] for g in ctx.model.blocks}
    least: dict[int, float] = {}
    for method in sorted({x for ms in offered.values() for x in ms}, key=str):
        strategy = base if method is None else uniform_strategy(base, method)
        try:
            per_block = ctx.cost.shape_compute(
                ctx.model, ctx.workload, ctx.cluster, strategy, core.tp * core.sp,
                **cache_kwargs(ctx, search),
            ).per_block_s  # fmt: skip
        except SpecError:
            continue
        for g, seconds in per_block.items():
            if method in offered[ctx.model.blocks[g].type]:
                least[g] = min(least.get(g, math.inf), seconds)
    complete = len(least) == len(ctx.model.blocks)
    return least if complete else None
