"""DeepSpeed's view of the plan's process groups: an `mpu` object over parplan's rank grid.

DeepSpeed's engine asks an mpu (Megatron's parallel-state interface) for its groups: it
all-reduces or ZeRO-partitions gradients over the *sequence-data-parallel* group (the ranks
that hold the same weights: dp x sp; dp x 1 with TP) and divides them by the data-parallel size
only (sequence shards add up: `engine._reduce_non_expert_gradients`, stage_1_and_2.py), and it
reduces the gradient norm over the model-parallel (tp) group. The groups come from
`parplan.smoke.comm.build_grid` in the plan's rank order; a size-1 dimension gets a real
one-rank group (DeepSpeed would read None as the whole world).
"""

from __future__ import annotations

import functools
import re

import torch.distributed as dist

from parplan.smoke.comm import Grid


def one_rank_groups(world_size: int) -> list[dist.ProcessGroup]:
    """A group per rank; every rank creates all of them, in the same order."""
    return [dist.new_group([rank]) for rank in range(world_size)]


# Megatron's parallel-state names (`get_<kind>_parallel_{group,world_size,rank}`) -> grid dims;
# the pipeline is one stage (the trainer refuses pp > 1).
KINDS = {"data": "dp", "model": "tp", "tensor_model": "tp", "sequence": "sp",
         "sequence_data": "dp_sp", "pipeline_model": None}  # fmt: skip
NAME = re.compile(r"get_(\w+?)_parallel_(group|world_size|rank)")


class ParplanMPU:
    """Megatron-style parallel state for DeepSpeed, over a smoke `Grid`: every
    `get_<kind>_parallel_<what>` of KINDS answers; any other name is missing, as DeepSpeed's
    `hasattr` probes expect (e.g. `initialize_sequence_parallel` would switch its SP mode)."""

    def __init__(self, grid: Grid, single: dist.ProcessGroup) -> None:
        self.grid, self.single = grid, single

    def __getattr__(self, name: str):
        match = NAME.fullmatch(name)
        if match is None or match[1] not in KINDS:
            raise AttributeError(name)
        return functools.partial(self.answer, KINDS[match[1]], match[2])

    def answer(self, dim: str | None, what: str):
        if dim is None:
            return {"group": self.single, "world_size": 1, "rank": 0}[what]
        if what == "group":
            return self.grid.group(dim) or self.single
        return self.grid.size(dim) if what == "world_size" else self.grid.group_rank(dim)
