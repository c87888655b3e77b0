"""One block of the model on one GPU for one micro-batch: its compute and its collectives.

The per-block half of the cost model (step.py assembles the step): GEMM, attention and
memory-bound seconds from the kernel tables and the roofline (device.py, kernels/), and the
`CollectiveCall`s the chosen strategies add (strategies/). Everything the planner evaluates
thousands of times per plan.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.cluster.comm_ops import CollectiveCall
from parplan.cost.attention import Split, attention_time
from parplan.cost.device import Device
from parplan.cost.kernels.gemm import training_utilization
from parplan.cost.layout import Layout, check_strategy, make_layout
from parplan.cost.strategies.base import BlockShape
from parplan.cost.strategies.dp import zero3_microbatch_calls
from parplan.cost.strategies.dsp import dsp_switch_calls, dsp_switch_count
from parplan.cost.strategies.fastseq import fastseq_calls
from parplan.cost.strategies.ring import ring_calls
from parplan.cost.strategies.tp import tp_calls
from parplan.cost.strategies.ulysses import ulysses_calls
from parplan.cost.strategies.usp import usp_calls
from parplan.cost.strategies.zero_impl import effective_zero, zero3_gathers_per_block
from parplan.errors import SpecError
from parplan.model.anatomy import BlockAnatomy, identity_memo, stream_rows
from parplan.model.blocks import block_anatomy
from parplan.model.flops import BlockCost, ModelCost, model_cost
from parplan.model.gemms import gemm_shapes, token_macs
from parplan.model.geometry import TokenGeometry, token_geometry
from parplan.model.traffic import pointwise_traffic, stream_bytes
from parplan.specs import ClusterSpec, ModelSpec, StrategySpec, WorkloadSpec

GEMM_BWD_OVER_FWD = 2.0  # dgrad + wgrad
# backward of the memory-bound ops: each reads the incoming gradient and its saved input(s) and
# writes a gradient, plus the broadcast operands' reductions; tests/test_elementwise_traffic.py
# measures 1.89x the forward bytes on a DiT block under autocast
ELEMENTWISE_BWD_OVER_FWD = 2.0


class Inputs(BaseModel):
    """Everything one evaluation needs, resolved once."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    model: ModelSpec
    workload: WorkloadSpec
    cluster: ClusterSpec
    strategy: StrategySpec
    geometry: TokenGeometry
    cost: ModelCost
    layout: Layout


class ComputeParts(BaseModel):
    """One block, one micro-batch, one GPU: forward seconds by kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gemm_s: float
    attention_s: float  # every attention of the block (self and cross), forward
    attention_bwd_s: float  # their backward
    self_attention_s: float  # the self-attentions alone (what ring P2P overlaps with)
    elementwise_s: float
    qkv_gemm_s: float  # the QKV projection alone (what FastSeq / Ulysses-bwd overlap with)
    column_gemm_share: float  # GEMM FLOPs of column-parallel layers (QKV, FC1): TP all-gather window

    @property
    def fwd_s(self) -> float:
        return self.gemm_s + self.attention_s + self.elementwise_s

    @property
    def bwd_s(self) -> float:
        return GEMM_BWD_OVER_FWD * self.gemm_s + self.attention_bwd_s + ELEMENTWISE_BWD_OVER_FWD * self.elementwise_s

    def recompute_s(self, ckpt: str) -> float:
        return {"none": 0.0, "selective": self.attention_s, "full": self.fwd_s}[ckpt]


def resolve(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
) -> Inputs:
    """Validate and derive everything; SpecError on any rule of SPEC_FORMAT "Strategy"."""
    gpus = num_gpus or strategy.world_size
    geometry = token_geometry(model, workload)
    check_block_methods(model=model, geometry=geometry, strategy=strategy, num_gpus=gpus)
    layout = make_layout(model=model, workload=workload, strategy=strategy, num_gpus=gpus)
    strategy = strategy.model_copy(update={"global_batch": layout.global_batch})
    return Inputs(
        model=model,
        workload=workload,
        cluster=cluster,
        strategy=strategy,
        geometry=geometry,
        cost=model_cost(model, geometry, workload),
        layout=layout,
    )


# ------------------------------------------------------------------------- per-block pieces


def block_shape(inp: Inputs, block: BlockCost) -> BlockShape:
    m, g = inp.model, inp.geometry
    rows = g.attention_tokens if block.block_type in ("mmdit",) or g.joint else g.tokens
    self_attn = sum(1 for a in block.attention if a.kind in ("self", "joint"))
    return BlockShape(
        block_type=block.block_type,
        micro_batch=inp.strategy.micro_batch,
        rows=rows,
        hidden=m.hidden,
        kv_width=m.n_kv_heads * m.d_head,
        self_attentions=max(self_attn, 1),
        cross_attention=any(a.kind == "cross" for a in block.attention),
        text_rows=g.text_tokens,
        element_bytes=inp.layout.element_bytes,
        params_replicated=block.params_replicated,
        params_tp_sharded=block.params_tp_sharded,
        score_elements=inp.strategy.micro_batch * sum(a.score_elements for a in block.attention),
    )


def block_compute(inp: Inputs, block: BlockCost, shape: BlockShape, device: Device) -> ComputeParts:
    s = inp.strategy
    split = s.tp * s.sp
    b, e = s.micro_batch, inp.layout.element_bytes
    gemm_flops = block.gemm_flops * b / split
    weight_bytes = block.params * e / s.tp
    gemm_s = device.gemm_s(
        flops=gemm_flops,
        bytes_moved=weight_bytes + gemm_flops * e / shape.hidden,
        kernels=shape.sublayers * 2,
        utilization=_gemm_utilization(inp, block, device),
    )
    per_gpu = Split(micro_batch=b, gpus=split, ring=s.ring_degree, element_bytes=e)
    # cross-attention keys (text) are whole on every rank: one kernel, no ring steps
    local = per_gpu.model_copy(update={"ring": 1})
    attention = {
        id(a): attention_time(a, local if a.kind == "cross" else per_gpu, device, s.stack)
        for a in block.attention
    }
    self_attention_s = sum(attention[id(a)].fwd_s for a in block.attention if a.kind != "cross")
    rep_div = s.sp * (s.tp if s.megatron_sp else 1)  # norms/residuals: whole on each TP rank
    bytes_moved, kernels = _elementwise(inp, block, rep_div=rep_div, split=split)
    elementwise_s = device.memory_bound_s(bytes_moved=bytes_moved, kernels=kernels)
    qkv_macs, column_macs, token_macs_total = token_macs(block.anatomy)
    return ComputeParts(
        gemm_s=gemm_s,
        attention_s=sum(t.fwd_s for t in attention.values()),
        attention_bwd_s=sum(t.bwd_s for t in attention.values()),
        self_attention_s=self_attention_s,
        elementwise_s=elementwise_s,
        qkv_gemm_s=gemm_s * (qkv_macs / token_macs_total),
        column_gemm_share=column_macs / token_macs_total,
    )


def _gemm_utilization(inp: Inputs, block: BlockCost, device: Device) -> float:
    """FLOP-weighted tile/wave utilization (kernels/gemm.py) of the block's GEMMs on one GPU
    (model/gemms.py: the anatomy's shapes under this TP/SP split; each with its dgrad and wgrad)."""
    s = inp.strategy
    return _anatomy_utilization(block.anatomy, inp.geometry, micro_batch=s.micro_batch, tp=s.tp,
                                sp=s.sp, sp_method=s.sp_method, sms=device.sms)  # fmt: skip


@identity_memo
def _anatomy_utilization(anatomy: BlockAnatomy, geometry: TokenGeometry, *, micro_batch: int,
                         tp: int, sp: int, sp_method: str, sms: int | None) -> float:  # fmt: skip
    """The planner asks for the same shapes under every rank order and ZeRO stage: memoized."""
    shapes = gemm_shapes(anatomy, geometry, micro_batch=micro_batch, tp=tp, sp=sp,
                         sp_method=sp_method)  # fmt: skip
    flops = sum(g.flops for g in shapes)
    time = sum(g.flops / training_utilization(m=g.m, n=g.n, k=g.k, sms=sms) for g in shapes)
    return flops / time if time else 1.0


def _elementwise(inp: Inputs, block: BlockCost, *, rep_div: int, split: int) -> tuple[float, int]:
    """Forward memory-bound bytes and kernel launches of one block on one GPU, from its
    anatomy's ops under the stack (model/traffic.py: eager one kernel per op, fused one per run
    of ops between GEMM/attention calls): the residual stream, norms and casts are whole on
    every TP rank without Megatron-SP, the head-split ops and the FFN activation split by TP;
    everything split by SP."""
    s, b, e = inp.strategy, inp.strategy.micro_batch, inp.layout.element_bytes
    fused = s.stack.elementwise == "fused"
    traffic = pointwise_traffic(
        block.anatomy, element_bytes=e, stream=stream_bytes(element_bytes=e, fused=fused),
        unfused=s.stack.attention == "unfused", fused=fused,
    )  # fmt: skip
    by_rows: dict[int, list[int]] = {}
    for r in traffic.rows:
        acc = by_rows.setdefault(stream_rows(r.stream, inp.geometry), [0, 0])
        acc[0], acc[1] = acc[0] + r.whole, acc[1] + r.split
    moved = sum((whole / rep_div + part / split) * rows * b for rows, (whole, part) in by_rows.items())
    return moved, traffic.kernels


def block_calls(
    inp: Inputs, shape: BlockShape, dsp_switches: int
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    """(fwd, bwd) collectives of one block for one micro-batch."""
    s = inp.strategy
    fwd, bwd = tp_calls(shape, degree=s.tp, megatron_sp=s.megatron_sp)
    sp_fwd, sp_bwd = _sp_calls(inp, shape, dsp_switches)
    z_fwd, z_bwd = zero3_block_calls(inp, shape)
    return fwd + sp_fwd + z_fwd, bwd + sp_bwd + z_bwd


def zero3_block_calls(
    inp: Inputs, shape: BlockShape
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    """ZeRO-3's per-micro-batch parameter gathers, as many calls as `stack.zero_impl` issues
    (none with pp > 1: strategies/zero_impl.py `effective_zero`); DeepSpeed gathers each of the
    block anatomy's linears whose weight (per TP rank) is above its persistence threshold."""
    s = inp.strategy
    if effective_zero(zero=s.zero, pp=s.pp) != 3:
        return [], []
    linears = block_anatomy(inp.model, shape.block_type).linears()
    weights = [lin.in_features * lin.out_features // s.tp for lin in linears]
    return zero3_microbatch_calls(
        block_params=shape.params_per_tp_rank(s.tp),
        element_bytes=inp.layout.element_bytes,
        group_size=s.dp * s.sp,
        gathers=zero3_gathers_per_block(impl=s.stack.zero_impl, weight_elements=weights),
    )


def _sp_calls(
    inp: Inputs, shape: BlockShape, dsp_switches: int
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    """The SP collectives of one block under its own method (`inp` is the block's view, see
    block_inputs), plus the `dsp_switches` layout switches this block carries."""
    s = inp.strategy
    method, p = s.sp_method, s.sp
    # Under Megatron TP each rank holds heads/tp: the head-split tensors (q, k, v, attention
    # output) are 1/tp of X; the layer input x that FastSeq gathers and DSP switches is whole.
    heads = shape.model_copy(
        update={"hidden": shape.hidden // s.tp, "kv_width": shape.kv_width // s.tp}
    )
    fwd: list[CollectiveCall] = []
    bwd: list[CollectiveCall] = []
    if method == "ulysses" or (method == "dsp" and shape.block_type not in _FACTORIZED):
        fwd, bwd = ulysses_calls(heads, degree=p, dim="sp")
    elif method == "ring":
        fwd, bwd = ring_calls(heads, degree=p, dim="sp")
    elif method == "fastseq":
        fwd, bwd = fastseq_calls(shape, degree=p, tp=s.tp)
    elif method == "usp":
        fwd, bwd = usp_calls(heads, ulysses=s.ulysses, ring=s.ring)
    switch_fwd, switch_bwd = dsp_switch_calls(shape, degree=p, switches=dsp_switches)
    return fwd + switch_fwd, bwd + switch_bwd


_FACTORIZED = ("spatial", "temporal", "spatial_temporal")


def dsp_switches_per_block(model: ModelSpec, strategy: StrategySpec | None = None) -> dict[str, int]:
    """Layout switches (one all-to-all of the block input each, strategies/dsp.py) per block of
    each type. Without `strategy`: every block under DSP (the rule in strategies/dsp.py).

    Between blocks, Ulysses, ring, FastSeq and USP all leave the activations sharded on the
    token sequence (each restores that shard after its attention: Ulysses' second all-to-all,
    ring's local output rows, FastSeq's reduce-scatter), so mixing them needs no resharding.
    DSP instead shards spatial blocks on frames and temporal blocks on spatial positions and
    computes attention locally. The cost model charges Ulysses/ring their attention collectives
    on spatial and temporal blocks alike, i.e. it treats the token shard as one neither
    factorized attention can use locally, so it is a third layout: whenever interleaved spatial
    and temporal blocks run in different layouts (DSP on either side), every S<->T boundary
    moves X/p per GPU once, 2*min(S, T) times per forward, carried by the scarcer type (2 per
    block), exactly like pure DSP. A spatial_temporal block under DSP switches twice inside."""
    methods = _methods_by_type(model, strategy)
    if strategy is not None and strategy.sp == 1:
        return {}
    counts: dict[str, int] = {}
    for g in model.blocks:
        counts[g.type] = counts.get(g.type, 0) + g.count
    per_block = {"spatial_temporal": 2} if methods.get("spatial_temporal") == "dsp" else {}
    spatial, temporal = counts.get("spatial", 0), counts.get("temporal", 0)
    if spatial and temporal and (
        sharded_layout("spatial", methods["spatial"]) != sharded_layout("temporal", methods["temporal"])
    ):
        per_block["spatial" if spatial <= temporal else "temporal"] = 2
    if all(m == "dsp" for m in methods.values()):
        assert dsp_switch_count(counts) == sum(per_block.get(t, 0) * c for t, c in counts.items())
    return per_block


def _methods_by_type(model: ModelSpec, strategy: StrategySpec | None) -> dict[str, str]:
    types = {g.type for g in model.blocks}
    if strategy is None:
        return dict.fromkeys(types, "dsp")
    return {t: method_of(strategy, t) for t in types}


def sharded_layout(block_type: str, method: str) -> str:
    """The dimension a block's input and output are sharded on (dsp_switches_per_block)."""
    if method == "dsp" and block_type in ("spatial", "spatial_temporal"):
        return "frames"
    if method == "dsp" and block_type == "temporal":
        return "space"
    return "tokens"


def method_of(strategy: StrategySpec, block_type: str) -> str:
    """SP method of one block type: `sp_methods` names it, else the strategy's sp_method."""
    return (strategy.sp_methods or {}).get(block_type, strategy.sp_method)


def block_strategy(strategy: StrategySpec, block_type: str) -> StrategySpec:
    """The strategy as one block type sees it: a single SP method (USP keeps the strategy's
    ulysses x ring split, the other methods run over the whole SP group)."""
    if not strategy.sp_methods:
        return strategy
    return uniform_strategy(strategy, method_of(strategy, block_type))


def uniform_strategy(strategy: StrategySpec, method: str) -> StrategySpec:
    """`strategy` with `method` on every block (USP keeps the strategy's split)."""
    split = (strategy.ulysses, strategy.ring) if method == "usp" else (1, 1)
    return strategy.model_copy(
        update={"sp_method": method, "sp_methods": None, "ulysses": split[0], "ring": split[1]}
    )


def block_inputs(inp: Inputs, block_type: str) -> Inputs:
    """`inp` with the block type's own SP method (what its compute, calls and memory see)."""
    view = block_strategy(inp.strategy, block_type)
    return inp if view is inp.strategy else inp.model_copy(update={"strategy": view})


def comm_strategy(strategy: StrategySpec) -> StrategySpec:
    """The strategy whose process groups serve every block: USP's ulysses/ring sub-groups
    exist when any block type runs USP (the SP groups themselves do not depend on the method)."""
    if strategy.sp_method == "usp" or "usp" not in strategy.methods_used:
        return strategy
    return strategy.model_copy(update={"sp_method": "usp", "sp_methods": None})


def check_block_methods(
    *, model: ModelSpec, geometry: TokenGeometry, strategy: StrategySpec, num_gpus: int
) -> None:
    """check_strategy for every block type under its own SP method; errors name the
    `sp_methods` entry at fault and the fix."""
    if not strategy.sp_methods:
        check_strategy(model=model, geometry=geometry, strategy=strategy, num_gpus=num_gpus)
        return
    types = sorted({g.type for g in model.blocks})
    for block_type, method in strategy.sp_methods.items():
        if block_type not in types:
            raise SpecError(
                f"sp_methods.{block_type}: {model.name} has no {block_type} blocks (it has "
                f"{', '.join(types)}); drop the key"
            )
        if method == "dsp" and block_type not in _FACTORIZED:
            raise SpecError(
                f"sp_methods.{block_type}=dsp: DSP switches spatial/temporal sharding and has "
                f"nothing to switch in {block_type} blocks; use ulysses, ring, fastseq or usp"
            )
    for block_type in types:
        view = block_strategy(strategy, block_type)
        try:
            check_strategy(model=model, geometry=geometry, strategy=view, num_gpus=num_gpus)
        except SpecError as err:
            if block_type not in strategy.sp_methods:
                raise
            raise SpecError(
                f"sp_methods.{block_type}={view.sp_method}: {err}; pick another method for "
                f"{block_type} blocks"
            ) from None
