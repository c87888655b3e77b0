"""The model and DeepSpeed's engine around it.

The model is `parplan.smoke.model.SmokeDiT` of the run's shape with the plan's layout applied
by the smoke layers: TP shards (`shard_for_tp`) and a `Mixer` for SP (`build_mixer`). The plan's
activation checkpointing wraps each block: `full` recomputes the whole block in backward,
`selective` its self-attention sub-layer (projections and attention; the cost model recomputes
the attention core only, so this recomputes a little more). DeepSpeed's engine then owns the
optimizer step: ZeRO stage, bf16 and gradient accumulation come from ds_config.json.
Megatron-SP: the parameters TP does not split saw only this rank's tokens, so their gradients
are all-reduced over tp by a tensor hook, before DeepSpeed's gradient hooks read them.
"""

from __future__ import annotations

import copy
import functools

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.checkpoint import checkpoint

from parplan.smoke.comm import Grid
from parplan.smoke.model import build_model
from parplan.smoke.parallel import build_mixer, shard_for_tp
from parplan.train.groups import ParplanMPU
from parplan.train.setup import RunSetup


class _RecomputeAttention:
    """A mixer whose self-attention is recomputed in backward; the rest is the inner mixer's."""

    def __init__(self, mixer) -> None:  # noqa: ANN001
        self._mixer = mixer

    def __getattr__(self, name: str):
        return getattr(self._mixer, name)

    def self_attention(self, blk: nn.Module, h: torch.Tensor) -> torch.Tensor:
        return checkpoint(self._mixer.self_attention, blk, h, use_reentrant=False)


class CheckpointedBlock(nn.Module):
    """One DiT block under the plan's checkpoint mode (none | selective | full)."""

    def __init__(self, block: nn.Module, mode: str) -> None:
        super().__init__()
        self.block, self.mode = block, mode
        self.block_type = block.block_type

    def forward(self, x, c, text, mixer):  # noqa: ANN001
        if self.mode == "none":
            return self.block(x, c, text, mixer)
        # The recompute runs in backward, after later blocks moved the mixer on (DSP's layout):
        # it must see the layout this block ran in, so it gets a copy taken now.
        now = copy.copy(mixer)
        if self.mode == "full":
            return checkpoint(self.block, x, c, text, now, use_reentrant=False)
        return self.block(x, c, text, _RecomputeAttention(now))


def _all_reduce_grad(grad: torch.Tensor, *, group: dist.ProcessGroup) -> torch.Tensor:
    grad = grad.clone()
    dist.all_reduce(grad, group=group)
    return grad


def build_model_for(setup: RunSetup, grid: Grid) -> nn.Module:
    """Seeded SmokeDiT (same weights on every rank), checkpoint-wrapped, TP-sharded."""
    s = setup.shape.strategy
    model = build_model(setup.shape)
    for index, mode in enumerate(setup.block_modes):
        model.blocks[index] = CheckpointedBlock(model.blocks[index], mode)
    shards = shard_for_tp(model, grid) if s.tp > 1 else {}
    for name, param in model.named_parameters():
        param.tensor_model_parallel = name in shards  # DeepSpeed's grad norm counts them once
        if s.megatron_sp and name not in shards:
            param.register_hook(functools.partial(_all_reduce_grad, group=grid.group("tp")))
    return model


def build_engine(setup: RunSetup, grid: Grid, mpu: ParplanMPU, device: torch.device):
    """(DeepSpeed engine, mixer) of this rank."""
    import deepspeed

    model = build_model_for(setup, grid).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=setup.lr)
    engine, *_ = deepspeed.initialize(
        model=model, optimizer=optimizer, config=setup.ds_config, mpu=mpu
    )
    return engine, build_mixer(setup.shape, grid)
