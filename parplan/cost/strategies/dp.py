"""Data parallelism with ZeRO stages 0-3 over the dp×sp group (SP ranks hold the same weights).

Sources: Rajbhandari et al. 2020 (ZeRO, arXiv 1910.02054) §5: stage 0 all-reduces gradients
(2Ψ per GPU on the wire), stages 1-2 reduce-scatter gradients and all-gather the updated
parameters (the same 2Ψ), stage 3 also all-gathers parameters in forward and again in backward
(3Ψ). DeepSpeed-Ulysses / yunchang README: ZeRO shards over DP×SP. Buffers are padded to a
multiple of the group size (DeepSpeed and FSDP flat-buffer partitioning).
"""

from __future__ import annotations

from parplan.cluster.comm_ops import CollectiveCall


def padded_bytes(*, params: int, element_bytes: int, group_size: int) -> float:
    """Flat buffer bytes after padding the element count up to a multiple of the group size."""
    elements = -(-params // group_size) * group_size
    return float(elements * element_bytes)


def dp_step_calls(*, params: int, element_bytes: int, zero: int, group_size: int) -> list[CollectiveCall]:
    """Collectives once per optimizer step (after the last micro-batch's backward). ZeRO-0 and
    ZeRO-1 keep whole gradients through accumulation and reduce them once; ZeRO-1/2 all-gather
    the updated parameters."""
    if group_size <= 1:
        return []
    if zero == 0:
        buffer = float(params * element_bytes)
        return [CollectiveCall(op="all_reduce", dim="dp_sp", buffer_bytes=buffer, phase="step",
                               label="dp.grad_all_reduce")]
    buffer = padded_bytes(params=params, element_bytes=element_bytes, group_size=group_size)
    calls = []
    if zero == 1:
        calls.append(CollectiveCall(op="reduce_scatter", dim="dp_sp", buffer_bytes=buffer,
                                    phase="step", label="dp.grad_reduce_scatter"))
    if zero in (1, 2):
        calls.append(CollectiveCall(op="all_gather", dim="dp_sp", buffer_bytes=buffer,
                                    phase="step", label="dp.param_all_gather"))
    return calls


def dp_microbatch_calls(*, params: int, element_bytes: int, zero: int, group_size: int) -> list[CollectiveCall]:
    """ZeRO-2/3 keep only a 1/N gradient shard, so every micro-batch's backward reduce-scatters
    its gradients (DeepSpeed ZeRO-2 and FSDP do; overlapped with that backward)."""
    if group_size <= 1 or zero < 2:
        return []
    buffer = padded_bytes(params=params, element_bytes=element_bytes, group_size=group_size)
    return [CollectiveCall(op="reduce_scatter", dim="dp_sp", buffer_bytes=buffer, phase="bwd",
                           label="dp.grad_reduce_scatter")]


def zero3_microbatch_calls(
    *, block_params: int, element_bytes: int, group_size: int
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    """ZeRO-3 / FSDP: gather each block's parameters before its forward and its backward."""
    if group_size <= 1:
        return [], []
    buffer = padded_bytes(params=block_params, element_bytes=element_bytes, group_size=group_size)
    fwd = [CollectiveCall(op="all_gather", dim="dp_sp", buffer_bytes=buffer,
                          label="zero3.param_gather")]
    bwd = [CollectiveCall(op="all_gather", dim="dp_sp", buffer_bytes=buffer, phase="bwd",
                          label="zero3.param_gather")]
    return fwd, bwd
