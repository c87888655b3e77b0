"""One block of the model on one GPU for one micro-batch: its compute and its collectives.

The per-block half of the cost model (evaluate.py assembles the step): GEMM, attention and
memory-bound seconds from the roofline (compute.py), and the `CollectiveCall`s the chosen
strategies add (strategies/). Everything the planner evaluates thousands of times per plan.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.comm_ops import CollectiveCall
from parplan.compute import Device, attention_length_factor
from parplan.flops import BlockCost, ModelCost, model_cost
from parplan.geometry import TokenGeometry, token_geometry
from parplan.layout import Layout, check_strategy, make_layout
from parplan.specs import ClusterSpec, ModelSpec, StrategySpec, WorkloadSpec
from parplan.strategies.base import BlockShape
from parplan.strategies.dp import zero3_microbatch_calls
from parplan.strategies.dsp import dsp_switch_calls, dsp_switch_count
from parplan.strategies.fastseq import fastseq_calls
from parplan.strategies.ring import ring_calls
from parplan.strategies.tp import tp_calls
from parplan.strategies.ulysses import ulysses_calls
from parplan.strategies.usp import usp_calls

FLASH_BWD_OVER_FWD = 2.5  # FlashAttention-2 backward: 5 matmuls vs 2 forward (Dao 2023 §3.1.2)
GEMM_BWD_OVER_FWD = 2.0  # dgrad + wgrad
KERNELS_PER_SUBLAYER = 6  # norm, modulate, GEMMs, activation, gate+residual (eager PyTorch)
AUTOCAST_STREAM_BYTES = 4  # fp32 residual stream and norms under torch.autocast


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
    attention_s: float  # every attention of the block (self and cross)
    self_attention_s: float  # the self-attentions alone (what ring P2P overlaps with)
    elementwise_s: float
    qkv_gemm_s: float  # the QKV projection alone (what FastSeq / Ulysses-bwd overlap with)

    @property
    def fwd_s(self) -> float:
        return self.gemm_s + self.attention_s + self.elementwise_s

    @property
    def bwd_s(self) -> float:
        return (
            GEMM_BWD_OVER_FWD * self.gemm_s
            + FLASH_BWD_OVER_FWD * self.attention_s
            + 2 * self.elementwise_s
        )

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
    check_strategy(model=model, geometry=geometry, strategy=strategy, num_gpus=gpus)
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
    )
    attention = {
        id(a): device.attention_s(
            flops=a.flops * b / split * _padded_head_dim(a.head_dim) / a.head_dim
            / attention_length_factor(max(a.kv_len / s.ring_degree, 1.0)),
            bytes_moved=b * a.sequences * 2 * (a.q_len + a.kv_len) * a.heads * a.head_dim * e / split,
            kernels=s.ring_degree,
        )
        for a in block.attention
    }
    self_attention_s = sum(attention[id(a)] for a in block.attention if a.kind != "cross")
    stream, act = _elementwise_bytes_per_token(inp.model, block, shape)
    rep_div = s.sp * (s.tp if s.megatron_sp else 1)  # norms/residuals: whole on each TP rank
    elem_bytes = (stream / rep_div + act / split) * shape.rows * b  # FFN activation: TP-split
    elementwise_s = device.memory_bound_s(
        bytes_moved=elem_bytes, kernels=KERNELS_PER_SUBLAYER * shape.sublayers
    )
    return ComputeParts(
        gemm_s=gemm_s,
        attention_s=sum(attention.values()),
        self_attention_s=self_attention_s,
        elementwise_s=elementwise_s,
        qkv_gemm_s=gemm_s * _qkv_share(inp.model, shape.self_attentions),
    )


def _padded_head_dim(head_dim: int) -> int:
    """FlashAttention-2 pads the head dim to a multiple of 32 (Dao-AILab/flash-attention
    csrc/flash_attn/flash_api.cpp: head_size_rounded = round_multiple(head_size, 32) up to 192):
    DiT-XL's 72 runs as 96 and wastes a quarter of the tensor-core work."""
    if head_dim > 192:
        return 256
    return -(-head_dim // 32) * 32


def _elementwise_bytes_per_token(
    model: ModelSpec, block: BlockCost, shape: BlockShape
) -> tuple[float, float]:
    """Memory-bound traffic of one block per token, forward. GPT blocks follow Megatron's fused
    kernels (LayerNorm r+w d, fused bias-dropout-add r 2d + w d: 5d per sublayer; bias-GeLU r+w
    of the FFN width: flops.elementwise_elems_per_token). DiT blocks run as eager PyTorch (DiT,
    Latte, Open-Sora, fast-DiT code): per modulated sublayer LayerNorm (2d), modulate x·(1+s)+b
    unfused (mul, add: 4d), gate (2d) and residual add (3d) = 11d; the cross-attention sublayer
    only adds its residual (3d); GELU r+w of the FFN width. DiT code trains under torch.autocast,
    which runs LayerNorm in fp32 and keeps the residual stream fp32 (PyTorch autocast op
    reference: layer_norm is an fp32 op; an fp32 + 16-bit add promotes to fp32), so the
    residual-stream traffic is 4 bytes per element whatever the GEMM precision; the GELU runs on
    the 16-bit FC1 output. Returns (residual-stream bytes, FFN-activation bytes) per token."""
    e = shape.element_bytes
    act = (3 if model.mlp == "swiglu" else 2) * model.ffn * e
    if model.family == "gpt":
        return block.elementwise_bytes_per_token * e / 2 - act, act
    d = model.hidden
    stream = 11 * d * (shape.self_attentions + 1) + 3 * d * int(shape.cross_attention)
    return stream * max(e, AUTOCAST_STREAM_BYTES), act


def _qkv_share(model: ModelSpec, self_attentions: int) -> float:
    """Fraction of a block's GEMM FLOPs in one self-attention's QKV projection (per token, from
    the widths; spatial_temporal blocks hold two self-attentions)."""
    h, kv = model.hidden, model.n_kv_heads * model.d_head
    qkv = h * (h + 2 * kv)
    mlp = (3 if model.mlp == "swiglu" else 2) * h * model.ffn
    cross = 2 * h * h if model.cross_attention else 0
    return qkv / (self_attentions * (qkv + h * h) + mlp + cross)


def block_calls(
    inp: Inputs, shape: BlockShape, dsp_switches: int
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    """(fwd, bwd) collectives of one block for one micro-batch."""
    s = inp.strategy
    fwd, bwd = tp_calls(shape, degree=s.tp, megatron_sp=s.megatron_sp)
    sp_fwd, sp_bwd = _sp_calls(inp, shape, dsp_switches)
    z_fwd, z_bwd = ([], [])
    if s.zero == 3:
        z_fwd, z_bwd = zero3_microbatch_calls(
            block_params=shape.params_per_tp_rank(s.tp),
            element_bytes=inp.layout.element_bytes,
            group_size=s.dp * s.sp,
        )
    return fwd + sp_fwd + z_fwd, bwd + sp_bwd + z_bwd


def _sp_calls(
    inp: Inputs, shape: BlockShape, dsp_switches: int
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    s = inp.strategy
    method, p = s.sp_method, s.sp
    # Under Megatron TP each rank holds heads/tp: the head-split tensors (q, k, v, attention
    # output) are 1/tp of X; the layer input x that FastSeq gathers and DSP switches is whole.
    heads = shape.model_copy(
        update={"hidden": shape.hidden // s.tp, "kv_width": shape.kv_width // s.tp}
    )
    if method == "ulysses" or (method == "dsp" and shape.block_type not in _FACTORIZED):
        return ulysses_calls(heads, degree=p, dim="sp")
    if method == "ring":
        return ring_calls(heads, degree=p, dim="sp")
    if method == "fastseq":
        return fastseq_calls(shape, degree=p, tp=s.tp)
    if method == "usp":
        return usp_calls(heads, ulysses=s.ulysses, ring=s.ring)
    if method == "dsp":
        return dsp_switch_calls(shape, degree=p, switches=dsp_switches)
    return [], []


_FACTORIZED = ("spatial", "temporal", "spatial_temporal")


def dsp_switches_per_block(model: ModelSpec) -> dict[str, int]:
    """DSP's all-to-alls per block of each type (see strategies/dsp.py for the rule)."""
    counts: dict[str, int] = {}
    for g in model.blocks:
        counts[g.type] = counts.get(g.type, 0) + g.count
    total = dsp_switch_count(counts)
    per_block = {"spatial_temporal": 2}
    spatial, temporal = counts.get("spatial", 0), counts.get("temporal", 0)
    if spatial and temporal:
        fewer = "spatial" if spatial <= temporal else "temporal"
        per_block[fewer] = 2
    assert total == sum(per_block.get(t, 0) * c for t, c in counts.items())
    return per_block
