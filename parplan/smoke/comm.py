"""Process groups and the differentiable collectives the smoke layouts are built from.

Rank grid (STYLE.md, nanotron): the strategy's `order`, innermost first, sets each dimension's
stride: with the default [tp, sp, dp, pp], rank = tp_rank + tp * (sp_rank + sp * dp_rank); a
coordinate is (rank // stride) % degree, as `parplan.plan.emit` writes into launch.sh. USP splits
sp into ulysses (inner, contiguous sp ranks, as yunchang's `use_ulysses_low=True`) x ring (outer).

Every collective runs inside `comm_label(...)` so the byte counter can name it; autograd
backward passes set the same labels, so the per-collective table reads e.g. `ulysses.qkv`.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from parplan.specs import StrategySpec

_LABELS = threading.local()


def current_label() -> str:
    stack = getattr(_LABELS, "stack", [])
    return stack[-1] if stack else ""


@contextlib.contextmanager
def comm_label(label: str) -> Iterator[None]:
    stack = _LABELS.__dict__.setdefault("stack", [])
    stack.append(label)
    try:
        yield
    finally:
        stack.pop()


# --------------------------------------------------------------------------------- groups


@dataclass
class Grid:
    """This rank's coordinates and the process groups it belongs to (None: size 1)."""

    rank: int
    tp_rank: int
    sp_rank: int
    dp_rank: int
    groups: dict[str, dist.ProcessGroup | None]
    sizes: dict[str, int]

    def group(self, dim: str) -> dist.ProcessGroup | None:
        return self.groups[dim]

    def size(self, dim: str) -> int:
        return self.sizes[dim]

    def group_rank(self, dim: str) -> int:
        group = self.groups[dim]
        return dist.get_rank(group) if group is not None else 0


def rank_strides(s: StrategySpec) -> dict[str, int]:
    """Stride of each dimension in the rank numbering: the product of the degrees inside it."""
    degrees = {"tp": s.tp, "sp": s.sp, "dp": s.dp, "pp": s.pp}
    strides, stride = {}, 1
    for dim in s.order:
        strides[dim], stride = stride, stride * degrees[dim]
    return strides


def _coords(rank: int, s: StrategySpec) -> tuple[int, int, int]:
    st = rank_strides(s)
    return (rank // st["tp"]) % s.tp, (rank // st["sp"]) % s.sp, (rank // st["dp"]) % s.dp


def _members(s: StrategySpec) -> dict[str, list[list[int]]]:
    """For each dimension, the rank lists of all its groups (every rank builds every group)."""
    st = rank_strides(s)

    def rank(t: int, p: int, d: int) -> int:
        return t * st["tp"] + p * st["sp"] + d * st["dp"]

    u, r = (s.ulysses, s.ring) if s.sp_method == "usp" else (s.sp, 1)
    tps, sps, dps = range(s.tp), range(s.sp), range(s.dp)
    return {
        "tp": [[rank(t, p, d) for t in tps] for p, d in itertools.product(sps, dps)],
        "sp": [[rank(t, p, d) for p in sps] for t, d in itertools.product(tps, dps)],
        "dp": [[rank(t, p, d) for d in dps] for t, p in itertools.product(tps, sps)],
        "dp_sp": [[rank(t, p, d) for d in dps for p in sps] for t in tps],
        "ulysses": [
            [rank(t, i + u * j, d) for i in range(u)]
            for t, j, d in itertools.product(tps, range(r), dps)
        ],
        "ring": [
            [rank(t, i + u * j, d) for j in range(r)]
            for t, i, d in itertools.product(tps, range(u), dps)
        ],
    }


def build_grid(rank: int, s: StrategySpec) -> Grid:
    """Create every process group in the same order on all ranks; keep the ones holding `rank`.

    Groups with the same members are created once (gloo connects every pair of a new group,
    which costs seconds on two cores); size-1 groups are None.
    """
    made: dict[tuple[int, ...], dist.ProcessGroup] = {}
    groups: dict[str, dist.ProcessGroup | None] = {}
    sizes: dict[str, int] = {}
    for dim, lists in _members(s).items():
        sizes[dim], groups[dim] = len(lists[0]), None
        if dim in ("ulysses", "ring") and s.sp_method != "usp":
            continue
        for members in map(tuple, lists):
            if len(members) > 1 and members not in made:
                made[members] = dist.new_group(list(members))
            if rank in members and len(members) > 1:
                groups[dim] = made[members]
    tp_rank, sp_rank, dp_rank = _coords(rank, s)
    return Grid(rank, tp_rank, sp_rank, dp_rank, groups, sizes)


def group_size(group: dist.ProcessGroup | None) -> int:
    return dist.get_world_size(group) if group is not None else 1


# ------------------------------------------------------------------- autograd collectives


def _all_to_all(
    x: torch.Tensor, group: dist.ProcessGroup, scatter: int, gather: int
) -> torch.Tensor:
    p = dist.get_world_size(group)
    send = torch.stack(x.chunk(p, dim=scatter), dim=0).contiguous()
    recv = torch.empty_like(send)
    dist.all_to_all_single(recv, send, group=group)
    return torch.cat(recv.unbind(0), dim=gather)


class SeqAllToAll(torch.autograd.Function):
    """Scatter `scatter` dim, gather `gather` dim; backward is the reverse all-to-all."""

    @staticmethod
    def forward(ctx, x, group, scatter: int, gather: int, label: str):  # type: ignore[override]
        ctx.args = (group, scatter, gather, label)
        with comm_label(label):
            return _all_to_all(x, group, scatter, gather)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        group, scatter, gather, label = ctx.args
        with comm_label(label):
            return _all_to_all(grad.contiguous(), group, gather, scatter), None, None, None, None


def all_to_all(x: torch.Tensor, group, scatter: int, gather: int, label: str) -> torch.Tensor:
    return SeqAllToAll.apply(x, group, scatter, gather, label)


def _gather_seq(x: torch.Tensor, group: dist.ProcessGroup) -> torch.Tensor:
    """(b, n/t, d) -> (b, n, d); gloo wants the concatenated layout, so gather on dim 0."""
    p = dist.get_world_size(group)
    local = x.transpose(0, 1).contiguous()
    out = torch.empty((p * local.shape[0], *local.shape[1:]), dtype=x.dtype, device=x.device)
    dist.all_gather_into_tensor(out, local, group=group)
    return out.transpose(0, 1)


def _reduce_scatter_seq(x: torch.Tensor, group: dist.ProcessGroup) -> torch.Tensor:
    p = dist.get_world_size(group)
    full = x.transpose(0, 1).contiguous()
    out = torch.empty((full.shape[0] // p, *full.shape[1:]), dtype=x.dtype, device=x.device)
    dist.reduce_scatter_tensor(out, full, group=group)
    return out.transpose(0, 1)


class GatherSeq(torch.autograd.Function):
    """Megatron-SP `g`: all-gather tokens forward, reduce-scatter backward."""

    @staticmethod
    def forward(ctx, x, group, label: str, bwd_label: str):  # type: ignore[override]
        ctx.args = (group, bwd_label)
        with comm_label(label):
            return _gather_seq(x, group)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        group, label = ctx.args
        with comm_label(label):
            return _reduce_scatter_seq(grad, group), None, None, None


class ReduceScatterSeq(torch.autograd.Function):
    """Megatron-SP `g-bar`: reduce-scatter tokens forward, all-gather backward."""

    @staticmethod
    def forward(ctx, x, group, label: str, bwd_label: str):  # type: ignore[override]
        ctx.args = (group, bwd_label)
        with comm_label(label):
            return _reduce_scatter_seq(x, group)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        group, label = ctx.args
        with comm_label(label):
            return _gather_seq(grad, group), None, None, None


class CopyToTP(torch.autograd.Function):
    """Megatron `f`: identity forward, all-reduce of the input gradient backward."""

    @staticmethod
    def forward(ctx, x, group, label: str):  # type: ignore[override]
        ctx.args = (group, label)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        group, label = ctx.args
        grad = grad.contiguous()
        with comm_label(label):
            dist.all_reduce(grad, group=group)
        return grad, None, None


class ReduceFromTP(torch.autograd.Function):
    """Megatron `g`: all-reduce forward, identity backward."""

    @staticmethod
    def forward(ctx, x, group, label: str):  # type: ignore[override]
        x = x.contiguous().clone()
        with comm_label(label):
            dist.all_reduce(x, group=group)
        return x

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad, None, None


class BackwardLabel(torch.autograd.Function):
    """Open (`push`) or close a label for the backward pass of code we cannot label inside.

    Wrap the outputs of a region with push=True and its inputs with push=False: autograd runs
    the push when the output gradient arrives and the pop once all input gradients are ready.
    """

    @staticmethod
    def forward(ctx, label: str, push: bool, *xs):  # type: ignore[override]
        ctx.label, ctx.push = label, push
        return tuple(x.view_as(x) for x in xs)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        stack = _LABELS.__dict__.setdefault("stack", [])
        if ctx.push:
            stack.append(ctx.label)
        elif stack:
            stack.pop()
        return (None, None, *grads)


# -------------------------------------------------------------------------------- p2p ring


def ring_peers(group: dist.ProcessGroup) -> tuple[int, int]:
    """Global ranks of the next and previous ring neighbours in `group`."""
    p, me = dist.get_world_size(group), dist.get_rank(group)
    nxt = dist.get_global_rank(group, (me + 1) % p)
    prev = dist.get_global_rank(group, (me - 1) % p)
    return nxt, prev


def ring_exchange(send: torch.Tensor, group: dist.ProcessGroup) -> tuple[torch.Tensor, list]:
    """Start sending `send` to the next rank and receiving the previous rank's block."""
    nxt, prev = ring_peers(group)
    send = send.contiguous()
    recv = torch.empty_like(send)
    works = [dist.isend(send, nxt, group=group), dist.irecv(recv, prev, group=group)]
    return recv, works + [_KeepAlive(send)]


class _KeepAlive:
    """Holds a tensor an isend is still reading until its works are waited on."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor

    def wait(self) -> None:
        self.tensor = None


def wait_all(works: list) -> None:
    for work in works:
        work.wait()
