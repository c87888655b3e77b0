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

import torch.distributed as dist

from parplan.smoke.comm import Grid


def one_rank_groups(world_size: int) -> list[dist.ProcessGroup]:
    """A group per rank; every rank creates all of them, in the same order."""
    return [dist.new_group([rank]) for rank in range(world_size)]


class ParplanMPU:
    """Megatron-style parallel state for DeepSpeed, over a smoke `Grid`."""

    def __init__(self, grid: Grid, single: dist.ProcessGroup) -> None:
        self.grid, self.single = grid, single

    def _group(self, dim: str) -> dist.ProcessGroup:
        return self.grid.group(dim) or self.single

    def _rank(self, dim: str) -> int:
        return self.grid.group_rank(dim)

    def get_data_parallel_group(self):
        return self._group("dp")

    def get_data_parallel_world_size(self) -> int:
        return self.grid.size("dp")

    def get_data_parallel_rank(self) -> int:
        return self._rank("dp")

    def get_model_parallel_group(self):
        return self._group("tp")

    def get_model_parallel_world_size(self) -> int:
        return self.grid.size("tp")

    def get_model_parallel_rank(self) -> int:
        return self._rank("tp")

    get_tensor_model_parallel_group = get_model_parallel_group
    get_tensor_model_parallel_world_size = get_model_parallel_world_size
    get_tensor_model_parallel_rank = get_model_parallel_rank

    def get_sequence_parallel_group(self):
        return self._group("sp")

    def get_sequence_parallel_world_size(self) -> int:
        return self.grid.size("sp")

    def get_sequence_parallel_rank(self) -> int:
        return self._rank("sp")

    def get_sequence_data_parallel_group(self):
        return self._group("dp_sp")

    def get_sequence_data_parallel_world_size(self) -> int:
        return self.grid.size("dp_sp")

    def get_sequence_data_parallel_rank(self) -> int:
        return self._rank("dp_sp")

    def get_pipeline_model_parallel_world_size(self) -> int:
        return 1

    def get_pipeline_model_parallel_rank(self) -> int:
        return 0
