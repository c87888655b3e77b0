"""FastSeq's first half: gather the layer input around a P2P ring while projecting Q, K, V.

OpenDiT (commit 92407f9, opendit/utils/operation.py) all-gathers x and overlaps only at p = 2
(`AsyncAllGatherForTwo`). Here the gather is p−1 ring steps for any p: at step s a rank sends
the chunk it holds to the next rank and, while it travels, multiplies that chunk by this rank's
head-sliced QKV weights. Backward: the weight grads use the saved gathered x; dx is reduced back
to its owner by a ring reduce-scatter of p−1 steps, each step's send overlapped with the GEMM
that produces the next chunk's partial dx.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from parplan.smoke.comm import comm_label, ring_exchange, wait_all


def _project(chunk: torch.Tensor, weights: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    wq, bq, wk, bk, wv, bv = weights
    return [F.linear(chunk, w, b) for w, b in ((wq, bq), (wk, bk), (wv, bv))]


def _dx(
    grads: list[torch.Tensor], weights: tuple[torch.Tensor, ...], chunk: int, p: int
) -> torch.Tensor:
    """This rank's partial input gradient for token chunk `chunk` (its heads only)."""
    wq, _, wk, _, wv, _ = weights
    dq, dk, dv = (g.chunk(p, dim=1)[chunk] for g in grads)
    return dq @ wq + dk @ wk + dv @ wv


class FastSeqQKV(torch.autograd.Function):
    """x (b, n/p, d) and sliced weights -> q, k, v (b, n, d/p) over the whole sequence."""

    @staticmethod
    def forward(ctx, x, group, wq, bq, wk, bk, wv, bv):  # type: ignore[override]
        weights = (wq, bq, wk, bk, wv, bv)
        p, me = dist.get_world_size(group), dist.get_rank(group)
        chunks: list[torch.Tensor | None] = [None] * p
        outs: list[list[torch.Tensor] | None] = [None] * p
        held, index = x.contiguous(), me
        for step in range(p):
            works = []
            if step + 1 < p:
                with comm_label("fastseq.gather_x"):
                    incoming, works = ring_exchange(held, group)
            chunks[index], outs[index] = held, _project(held, weights)
            wait_all(works)
            if step + 1 < p:
                held, index = incoming, (index - 1) % p
        ctx.save_for_backward(torch.cat(chunks, dim=1), *weights)
        ctx.group = group
        return tuple(torch.cat([o[i] for o in outs], dim=1) for i in range(3))

    @staticmethod
    def backward(ctx, dq, dk, dv):  # type: ignore[override]
        x_full, *weights = ctx.saved_tensors
        group = ctx.group
        p, me = dist.get_world_size(group), dist.get_rank(group)
        grads = [g.contiguous() for g in (dq, dk, dv)]
        received, works = None, []
        for step in range(p - 1):  # ring reduce-scatter: chunk c ends at rank c
            partial = _dx(grads, weights, (me - 1 - step) % p, p)
            wait_all(works)
            if received is not None:
                partial = partial + received
            with comm_label("fastseq.reduce_scatter_dx"):
                received, works = ring_exchange(partial, group)
        dx = _dx(grads, weights, me, p)
        wait_all(works)
        if received is not None:
            dx = dx + received
        flat_x = x_full.flatten(0, 1)
        wgrads = []
        for g in grads:
            flat_g = g.flatten(0, 1)
            wgrads += [flat_g.t() @ flat_x, flat_g.sum(dim=0)]
        return (dx, None, *wgrads)


def fastseq_qkv(x: torch.Tensor, weights: list[torch.Tensor], group) -> tuple[torch.Tensor, ...]:
    return FastSeqQKV.apply(x, group, *weights)
