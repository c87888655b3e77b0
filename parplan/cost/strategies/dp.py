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


def bucketed_bytes(*, params: int, element_bytes: int, group_size: int, buckets: int) -> float:
    """Bytes of one of `buckets` equal buckets, each padded to a multiple of the group size."""
    per_bucket = -(-params // buckets)
    return padded_bytes(params=per_bucket, element_bytes=element_bytes, group_size=group_size)


def dp_step_calls(
    *, params: int, element_bytes: int, zero: int, group_size: int, buckets: int = 1
) -> list[CollectiveCall]:
    """Collectives once per optimizer step (after the last micro-batch's backward), each as
    `buckets` calls (zero_impl.dp_buckets). ZeRO-0 and ZeRO-1 keep whole gradients through
    accumulation and reduce them once; ZeRO-1/2 all-gather the updated parameters."""
    if group_size <= 1:
        return []
    if zero == 0:
        buffer = float(-(-params // buckets) * element_bytes)
        return [CollectiveCall(op="all_reduce", dim="dp_sp", buffer_bytes=buffer, count=buckets,
                               phase="step", label="dp.grad_all_reduce")]  # fmt: skip
    buffer = bucketed_bytes(params=params, element_bytes=element_bytes, group_size=group_size,
                            buckets=buckets)  # fmt: skip
    calls = []
    if zero == 1:
        calls.append(CollectiveCall(op="reduce_scatter", dim="dp_sp", buffer_bytes=buffer,
                                    count=buckets, phase="step", label="dp.grad_reduce_scatter"))
    if zero in (1, 2):
        calls.append(CollectiveCall(op="all_gather", dim="dp_sp", buffer_bytes=buffer,
                                    count=buckets, phase="step", label="dp.param_all_gather"))
    return calls


def dp_microbatch_calls(
    *, params: int, element_bytes: int, zero: int, group_size: int, buckets: int = 1
) -> list[CollectiveCall]:
    """ZeRO-2/3 keep only a 1/N gradient shard, so every micro-batch's backward reduce-scatters
    its gradients (DeepSpeed ZeRO-2 and FSDP do; overlapped with that backward)."""
    if group_size <= 1 or zero < 2:
        return []
    buffer = bucketed_bytes(params=params, element_bytes=element_bytes, group_size=group_size,
                            buckets=buckets)  # fmt: skip
    return [CollectiveCall(op="reduce_scatter", dim="dp_sp", buffer_bytes=buffer, count=buckets,
                           phase="bwd", label="dp.grad_reduce_scatter")]  # fmt: skip


def zero3_microbatch_calls(
    *, block_params: int, element_bytes: int, group_size: int, gathers: int = 1
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    """ZeRO-3 / FSDP: gather each block's parameters before its forward and its backward, in
    `gathers` calls (zero_impl.zero3_gathers_per_block: 1 for FSDP, one per submodule for
    DeepSpeed)."""
    if group_size <= 1:
        return [], []
    buffer = bucketed_bytes(params=block_params, element_bytes=element_bytes,
                            group_size=group_size, buckets=gathers)  # fmt: skip
    fwd = [CollectiveCall(op="all_gather", dim="dp_sp", buffer_bytes=buffer, count=gathers,
                          label="zero3.param_gather")]  # fmt: skip
    bwd = [CollectiveCall(op="all_gather", dim="dp_sp", buffer_bytes=buffer, count=gathers,
                          phase="bwd", label="zero3.param_gather")]  # fmt: skip
    return fwd, bwd
