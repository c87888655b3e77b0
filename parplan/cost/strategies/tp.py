"""Megatron tensor parallelism: column-parallel QKV/FC1, row-parallel out-proj/FC2.

Source: Shoeybi et al. 2019 (arXiv 1909.08053) §3, the f/g operators: one all-reduce of the
layer activation X after each row-parallel GEMM (forward) and one for the input gradient of each
column-parallel GEMM (backward). With Megatron-SP (Korthikanti et al. 2022, arXiv 2205.05198
§4.2.2) each all-reduce becomes an all-gather before and a reduce-scatter after, the same bytes;
the grads of the per-block parameters that TP replicates (norms, adaLN modulation) then differ
between ranks (each saw other tokens) and are all-reduced over TP once per step.
Cross-attention reads the replicated text tokens through column-parallel K/V projections, so its
backward also all-reduces the text-token gradient.
"""

from __future__ import annotations

from parplan.cluster.comm_ops import CollectiveCall
from parplan.cost.strategies.base import BlockShape


def tp_replicated_grad_calls(
    *, params_replicated: int, element_bytes: int, blocks: int, megatron_sp: bool
) -> list[CollectiveCall]:
    """With Megatron-SP the grads of the parameters TP replicates differ between TP ranks (each
    saw other tokens): one all-reduce per block, once per optimizer step (Megatron
    finalize_model_grads -> _allreduce_layernorm_grads; grads accumulate over micro-batches)."""
    if not megatron_sp or not params_replicated or not blocks:
        return []
    return [CollectiveCall(op="all_reduce", dim="tp", buffer_bytes=params_replicated * element_bytes,
                           count=blocks, phase="step", label="tp.replicated_grads")]  # fmt: skip


def tp_calls(
    shape: BlockShape, *, degree: int, megatron_sp: bool
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    if degree <= 1:
        return [], []
    n, x = shape.sublayers, shape.x_bytes
    if megatron_sp:
        fwd = [
            CollectiveCall(op="all_gather", dim="tp", buffer_bytes=x, count=n, label="tp.ag"),
            CollectiveCall(op="reduce_scatter", dim="tp", buffer_bytes=x, count=n, label="tp.rs"),
        ]
        bwd = [c.model_copy(update={"phase": "bwd"}) for c in fwd]
    else:
        fwd = [CollectiveCall(op="all_reduce", dim="tp", buffer_bytes=x, count=n, label="tp.ar")]
        bwd = [c.model_copy(update={"phase": "bwd"}) for c in fwd]
    if shape.cross_attention and shape.text_rows:
        bwd.append(CollectiveCall(op="all_reduce", dim="tp", buffer_bytes=shape.text_bytes,
                                  phase="bwd", label="tp.text_grad"))
    return fwd, bwd
