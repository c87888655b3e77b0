"""Gradient synchronisation and the optimizer step: plain DP, own ZeRO-2, Megatron-SP grads.

* TP + Megatron-SP: each TP rank saw other tokens, so the grads of the parameters TP does not
  split (adaLN modulation, row-parallel biases) are all-reduced over tp: one flat buffer per
  block, after the backward.
* DP (zero 0): one flat all-reduce of every local grad over the dp x sp group (SP ranks hold
  the same weights; DeepSpeed-Ulysses blog, yunchang README).
* ZeRO-2 (Rajbhandari et al. 2020 §5.2), own implementation: the flat grad buffer, padded with
  zeros to a multiple of the group size (in elements), is reduce-scattered; each rank updates its
  shard (SGD) and the updated flat parameters are all-gathered. DeepSpeed's engine is not used:
  its bucketing and alignment rules would make the byte count depend on its config.
Loss is a sum over the global output divided by its size, so grads are *summed*, not averaged.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from parplan.smoke.comm import Grid, comm_label
from parplan.smoke.counting import ByteCounter


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflatten_into(flat: torch.Tensor, tensors: list[torch.Tensor]) -> None:
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def padded_numel(numel: int, parts: int) -> int:
    """Elements of the ZeRO flat buffer: numel rounded up to a multiple of the group size."""
    return -(-numel // parts) * parts


class GradSync:
    def __init__(self, model: nn.Module, grid: Grid, zero: int, replicated_over_tp: bool) -> None:
        self.named = list(model.named_parameters())
        self.params = [p for _, p in self.named]
        self.group, self.parts = grid.group("dp_sp"), grid.size("dp_sp")
        self.zero = zero if self.parts > 1 else 0
        self.tp_group = grid.group("tp") if replicated_over_tp else None
        self.tp_buckets = self._replicated_buckets(model) if self.tp_group is not None else []
        self.numel = sum(p.numel() for p in self.params)
        self.shard_numel = padded_numel(self.numel, self.parts) // self.parts
        self.rank_in_group = dist.get_rank(self.group) if self.group is not None else 0
        self.grad_shard: torch.Tensor | None = None

    def _replicated_buckets(self, model: nn.Module) -> list[list[nn.Parameter]]:
        """Per block (then the rest): the parameters TP replicates (not in `tp_shards`)."""
        shards = getattr(model, "tp_shards", {})
        buckets: dict[str, list[nn.Parameter]] = {}
        for name, param in self.named:
            if name not in shards:
                key = ".".join(name.split(".")[:2]) if name.startswith("blocks.") else "rest"
                buckets.setdefault(key, []).append(param)
        return list(buckets.values())

    def reduce(self, counter: ByteCounter) -> None:
        """After backward: TP replicated-grad all-reduce (phase bwd), then the DP reduction."""
        counter.phase = "bwd"
        for bucket in self.tp_buckets:
            flat = _flat([p.grad for p in bucket])
            with comm_label("tp.replicated_grads"):
                dist.all_reduce(flat, group=self.tp_group)
            _unflatten_into(flat, [p.grad for p in bucket])
        counter.phase = "step"
        if self.group is None:
            return
        flat = _flat([p.grad for p in self.params])
        if self.zero == 0:
            with comm_label("dp.grad_all_reduce"):
                dist.all_reduce(flat, group=self.group)
            _unflatten_into(flat, [p.grad for p in self.params])
            return
        padded = torch.zeros(self.shard_numel * self.parts, dtype=flat.dtype, device=flat.device)
        padded[: self.numel] = flat
        self.grad_shard = torch.empty(self.shard_numel, dtype=flat.dtype, device=flat.device)
        with comm_label("dp.grad_reduce_scatter"):
            dist.reduce_scatter_tensor(self.grad_shard, padded, group=self.group)

    @torch.no_grad()
    def step(self, lr: float) -> None:
        """SGD: on every parameter (zero 0) or on this rank's flat shard, then all-gather."""
        if self.zero == 0:
            for p in self.params:
                p.add_(p.grad, alpha=-lr)
            return
        first = self.params[0]
        flat = first.new_zeros(self.shard_numel * self.parts)
        flat[: self.numel] = _flat([p.detach() for p in self.params])
        lo = self.rank_in_group * self.shard_numel
        shard = flat[lo : lo + self.shard_numel] - lr * self.grad_shard
        with comm_label("dp.param_all_gather"):
            dist.all_gather_into_tensor(flat, shard.contiguous(), group=self.group)
        _unflatten_into(flat[: self.numel], self.params)

    def local_grads(self) -> torch.Tensor:
        """The grads this rank holds after `reduce`: all of them, or its ZeRO shard (flat)."""
        if self.zero == 2:
            return self.grad_shard
        return _flat([p.grad for p in self.params])

    def expected_grads(self, full: torch.Tensor) -> torch.Tensor:
        """Cut what `local_grads` should equal out of the flat expected local grads."""
        if self.zero != 2:
            return full
        padded = full.new_zeros(self.shard_numel * self.parts)
        padded[: self.numel] = full
        lo = self.rank_in_group * self.shard_numel
        return padded[lo : lo + self.shard_numel]
