"""How many collective calls the data-parallel / ZeRO implementation (`stack.zero_impl`) issues.

The bytes of ZeRO are the same in every framework (dp.py); the number of calls is not, and at
1,000+ GPUs each ring call pays ~p-1 latency steps (cluster/collectives.py), so the count decides
whether ZeRO-3 is bandwidth- or latency-bound.

* fsdp — PyTorch FSDP2 `fully_shard` (torchtitan wraps each transformer block): one
  `all_gather_into_tensor` per wrapped module per gather (torch/distributed/fsdp/_fully_shard/
  _fsdp_collectives.py `foreach_all_gather` copies all of the module's parameters into one
  buffer), one reduce-scatter per module in backward. ZeRO-0/1 run as
  `DistributedDataParallel`, whose gradient buckets hold 25 MiB (`bucket_cap_mb=25`).
* deepspeed — ZeRO-3 fetches per submodule that holds parameters (each nn.Linear):
  deepspeed/runtime/zero/partitioned_param_coordinator.py `fetch_sub_module` ->
  `__all_gather_params` -> one `all_gather_coalesced` of that submodule's partitioned
  parameters; parameters under `stage3_param_persistence_threshold` (1e5 elements) are never
  partitioned. Gradients and ZeRO-1/2 parameter gathers move in buckets of
  `reduce_bucket_size` / `allgather_bucket_size` = 5e8 elements (deepspeed/runtime/zero/config.py).
  Not modelled: below `stage3_max_live_parameters` (1e9) per rank the prefetcher coalesces up to
  `stage3_prefetch_bucket_size` (5e7) elements per call and keeps parameters for backward within
  `stage3_max_reuse_distance`; predictions say so in a note (a per-submodule upper bound there).
* megatron — Megatron-Core DDP and distributed optimizer: gradient reduce-scatter/all-reduce and
  parameter all-gather per bucket of `bucket_size` = max(4e7, 1e6 * dp) parameters
  (megatron/core/distributed/distributed_data_parallel_config.py: "larger DP sizes need larger
  buckets to ensure collectives do not become latency-bound"); dp counts the context-parallel
  ranks too (`get_data_parallel_world_size(with_context_parallel=True)`), parplan's dp x sp.

ZeRO 2/3 with pipeline parallelism: torch.distributed.pipelining keeps FSDP's gradients
unsharded and unreduced until the last micro-batch (pipelining/stage.py
`backward_maybe_with_nosync`: `set_requires_gradient_sync(False)`, `set_reshard_after_backward
(False)`; `perform_reduce_grad` then reduce-scatters once), and torchtitan does not reshard after
forward under PP (models/llama3/infra/parallelize.py `apply_fsdp`: `reshard_after_forward = not
pp_enabled`, "to avoid per-microbatch all-gathers"). So per step: one all-gather per block (the
first micro-batch's forward) and one reduce-scatter per block (after the last backward); per
micro-batch: nothing; the stage's unsharded parameters and gradients live through the step.
That is ZeRO-1's traffic and memory (`effective_zero`). DeepSpeed's PipelineEngine refuses ZeRO
2/3 (deepspeed/runtime/pipe/engine.py: "ZeRO-2 and ZeRO-3 are incompatible with pipeline
parallelism").
"""

from __future__ import annotations

import math

TORCH_DDP_BUCKET_BYTES = 25 * 2**20  # torch DistributedDataParallel(bucket_cap_mb=25)
DEEPSPEED_BUCKET_ELEMENTS = 5e8  # reduce_bucket_size = allgather_bucket_size default
DEEPSPEED_PERSISTENCE_ELEMENTS = 1e5  # stage3_param_persistence_threshold
DEEPSPEED_LIVE_PARAMETERS = 1e9  # stage3_max_live_parameters
MEGATRON_MIN_BUCKET_ELEMENTS = 4e7  # bucket_size = max(4e7, 1e6 * dp)
MEGATRON_BUCKET_ELEMENTS_PER_DP_RANK = 1e6


def effective_zero(*, zero: int, pp: int) -> int:
    """The ZeRO stage whose traffic and memory a run has: with pp > 1, stages 2 and 3 keep
    parameters and gradients whole through the step (module docstring), i.e. ZeRO-1."""
    return 1 if pp > 1 and zero >= 2 else zero


def pipeline_zero_stages(impl: str) -> tuple[int, ...]:
    """ZeRO stages worth searching with pp > 1. fsdp adds 3: FSDP + pipelining as torchtitan
    runs it (per-block gather and reduce-scatter once per step; 2 would cost the same);
    megatron's 2/3 would cost exactly ZeRO-1's; DeepSpeed's PipelineEngine cannot run them."""
    return (0, 1, 3) if impl == "fsdp" else (0, 1)


def dp_buckets(*, impl: str, zero: int, params: float, element_bytes: int, group_size: int,
               blocks: int) -> int:  # fmt: skip
    """Calls of each DP gradient / parameter collective over a stage's `params`."""
    if impl == "fsdp" and zero >= 2:
        return max(blocks, 1)  # one reduce-scatter (and gather) per fully_shard'ed block
    if impl == "megatron":
        bucket = max(MEGATRON_MIN_BUCKET_ELEMENTS, MEGATRON_BUCKET_ELEMENTS_PER_DP_RANK * group_size)
    elif impl == "deepspeed":
        bucket = DEEPSPEED_BUCKET_ELEMENTS
    else:
        bucket = TORCH_DDP_BUCKET_BYTES / element_bytes
    return max(1, math.ceil(params / bucket))


def zero3_gathers_per_block(*, impl: str, weight_elements: list[int]) -> int:
    """All-gather calls to materialize one block's parameters once (forward or backward)."""
    if impl != "deepspeed":
        return 1  # FSDP: one per wrapped block; Megatron-FSDP: one bucket per layer
    partitioned = [n for n in weight_elements if n >= DEEPSPEED_PERSISTENCE_ELEMENTS]
    return max(len(partitioned), 1)


def deepspeed_prefetch_note(*, impl: str, zero: int, params_per_gpu: float) -> list[str]:
    if impl != "deepspeed" or zero != 3 or params_per_gpu > DEEPSPEED_LIVE_PARAMETERS:
        return []
    return [
        f"zero_impl=deepspeed: {params_per_gpu:.3g} parameters per rank fit DeepSpeed's "
        "stage3_max_live_parameters (1e9), so its prefetcher would coalesce gathers up to 5e7 "
        "elements and keep them for backward; parplan charges one gather per submodule (an "
        "upper bound here)"
    ]
