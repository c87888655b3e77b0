"""The shapes `parplan kernels measure` times: the model's own GEMMs and attention calls on one
GPU of a layout (tp splits heads and the linear layers, sp the sequence), without torch.

GEMMs are the block anatomy's, on one GPU of the split (model/gemms.py `gemm_shapes`: the shapes
the cost model prices); attention calls the cost model's own `AttentionShape`s (model/flops.py).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.model.blocks import block_anatomy
from parplan.model.flops import model_cost
from parplan.model.gemms import gemm_shapes as anatomy_gemm_shapes
from parplan.model.geometry import token_geometry
from parplan.specs import ModelSpec, WorkloadSpec

MAX_SEQUENCES = 64  # attention batch cap: throughput is flat once the GPU is full


class Split(BaseModel):
    """The per-GPU slice to measure: Megatron TP splits heads and linear layers; Ulysses splits
    the tokens of the GEMMs and the heads of attention; ring splits the tokens of both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tp: int = 1
    ulysses: int = 1
    ring: int = 1
    micro_batch: int = 1

    @property
    def sp(self) -> int:
        return self.ulysses * self.ring


class GemmShape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    names: tuple[str, ...]
    m: int
    n: int
    k: int


class AttentionCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    batch: int  # sequences x micro-batch, capped at MAX_SEQUENCES
    heads: int  # per GPU (heads / tp)
    kv_heads: int
    q_len: int
    kv_len: int
    head_dim: int
    causal: bool


def gemm_shapes(model: ModelSpec, workload: WorkloadSpec, split: Split) -> list[GemmShape]:
    """Every distinct (m, n, k) of the blocks' linear layers on one GPU, named
    `block_type.sublayer.linear`."""
    geometry = token_geometry(model, workload)
    by_shape: dict[tuple[int, int, int], list[str]] = {}
    for group in model.blocks:
        block = block_anatomy(model, group.type)
        for s in anatomy_gemm_shapes(block, geometry, micro_batch=split.micro_batch,
                                     tp=split.tp, sp=split.sp):  # fmt: skip
            if s.m:  # a text projection of a model without text has nothing to time
                by_shape.setdefault((s.m, s.n, s.k), []).append(f"{group.type}.{s.name}")
    return [GemmShape(names=tuple(dict.fromkeys(names)), m=m, n=n, k=k)
            for (m, n, k), names in by_shape.items()]  # fmt: skip


def attention_calls(model: ModelSpec, workload: WorkloadSpec, split: Split) -> list[AttentionCall]:
    """Every distinct attention call of the blocks on one GPU: heads / (tp * ulysses); a ring
    step attends a 1/ring block of queries to a 1/ring block of keys (cross-attention keys,
    the text, stay whole)."""
    geometry = token_geometry(model, workload)
    calls: dict[AttentionCall, None] = {}
    for block in model_cost(model, geometry, workload).blocks:
        for a in block.attention:
            kv_len = a.kv_len if a.kind == "cross" else max(a.kv_len // split.ring, 1)
            heads = split.tp * split.ulysses
            call = AttentionCall(
                batch=min(a.sequences * split.micro_batch, MAX_SEQUENCES),
                heads=max(a.heads // heads, 1),
                kv_heads=max(a.kv_heads // heads, 1),
                q_len=max(a.q_len // split.ring, 1),
                kv_len=kv_len,
                head_dim=a.head_dim,
                causal=a.causal,
            )
            calls[call] = None
    return list(calls)
