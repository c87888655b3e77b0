"""Ring attention: K/V blocks circulate over P2P while each rank attends its local queries.

Forward (Liu et al. 2023, "Ring Attention"; zhuzilin/ring-flash-attention): p−1 steps, each
sending the packed [K; V] block to the next rank while attending to the block in hand; partial
outputs merge with log-sum-exp rescaling (online softmax). Backward (ring_flash_attn.py
`ring_flash_attn_backward`): K/V circulate again (p−1 sends) and the packed [dK; dV]
accumulators travel with them, one more hop at the end to reach their owner (p sends).
Non-causal (DiT), so no zigzag load balancing is needed.
On CPU each block runs PyTorch's fused flash kernel (`_scaled_dot_product_flash_attention_for_cpu`
and its backward, which take the global output and log-sum-exp as ring-flash-attn's
`_flash_attn_backward` does), so a ring block costs what a flash-attention block costs (the
cost model's assumption); on other devices the explicit matmul path below is used.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from parplan.smoke.comm import comm_label, ring_exchange, wait_all


def _block_forward(q, k, v, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(b, h, n, dh) attention of q against one K/V block: output and log-sum-exp (b, h, n)."""
    if q.device.type == "cpu":
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, scale=scale)
        return out, lse
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    lse = torch.logsumexp(scores, dim=-1)
    return torch.matmul(torch.exp(scores - lse.unsqueeze(-1)), v), lse


def _merge(out, lse, block_out, block_lse) -> tuple[torch.Tensor, torch.Tensor]:
    new_lse = torch.logaddexp(lse, block_lse)
    out = out * torch.exp(lse - new_lse).unsqueeze(-1)
    return out + block_out * torch.exp(block_lse - new_lse).unsqueeze(-1), new_lse


def _block_backward(q, k, v, out, out_grad, lse, delta, scale: float):
    """Gradients of one K/V block given the final output, lse and delta = rowsum(dO * O)."""
    if q.device.type == "cpu":
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            out_grad, q, k, v, out, lse, 0.0, False, scale=scale
        )
    probs = torch.exp(torch.matmul(q, k.transpose(-1, -2)) * scale - lse.unsqueeze(-1))
    dv = torch.matmul(probs.transpose(-1, -2), out_grad)
    dscores = probs * (torch.matmul(out_grad, v.transpose(-1, -2)) - delta.unsqueeze(-1))
    dq = torch.matmul(dscores, k) * scale
    dk = torch.matmul(dscores.transpose(-1, -2), q) * scale
    return dq, dk, dv


class RingAttention(torch.autograd.Function):
    """q, k, v: (b, h, n/p, dh) local blocks; returns the local (b, h, n/p, dh) output."""

    @staticmethod
    def forward(ctx, q, k, v, group):  # type: ignore[override]
        scale = q.shape[-1] ** -0.5
        p = dist.get_world_size(group)
        kv = torch.cat([k, v], dim=-1)
        out, lse = None, None
        for step in range(p):
            works = []
            if step + 1 < p:
                with comm_label("ring.kv"):
                    next_kv, works = ring_exchange(kv, group)
            block_k, block_v = kv.chunk(2, dim=-1)
            block_out, block_lse = _block_forward(q, block_k, block_v, scale)
            out, lse = (
                (block_out, block_lse) if out is None else _merge(out, lse, block_out, block_lse)
            )
            wait_all(works)
            if step + 1 < p:
                kv = next_kv
        out = out.to(q.dtype)  # the fp32 merges promote a 16-bit output, as flash keeps it fp32
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.group = group
        return out

    @staticmethod
    def backward(ctx, out_grad):  # type: ignore[override]
        q, k, v, out, lse = ctx.saved_tensors
        group, scale = ctx.group, q.shape[-1] ** -0.5
        p = dist.get_world_size(group)
        out_grad = out_grad.contiguous()
        delta = None if q.device.type == "cpu" else (out_grad * out).sum(dim=-1)
        kv = torch.cat([k, v], dim=-1)
        dq = torch.zeros_like(q)
        dkv, dkv_works, kv_works = None, [], []
        for step in range(p):
            if step + 1 < p:
                with comm_label("ring.kv"):
                    next_kv, kv_works = ring_exchange(kv, group)
            block_k, block_v = kv.chunk(2, dim=-1)
            bdq, bdk, bdv = _block_backward(q, block_k, block_v, out, out_grad, lse, delta, scale)
            dq += bdq
            block_dkv = torch.cat([bdk, bdv], dim=-1)
            wait_all(dkv_works)
            dkv = block_dkv if dkv is None else dkv + block_dkv
            with comm_label("ring.dkv"):
                dkv, dkv_works = ring_exchange(dkv, group)
            wait_all(kv_works)
            if step + 1 < p:
                kv, kv_works = next_kv, []
        wait_all(dkv_works)
        dk, dv = dkv.chunk(2, dim=-1)
        return dq, dk.contiguous(), dv.contiguous(), None


def ring_attention(q, k, v, group) -> torch.Tensor:
    """(b, n/p, h, dh) in and out, like the local attention it replaces."""
    out = RingAttention.apply(*(t.transpose(1, 2).contiguous() for t in (q, k, v)), group)
    return out.transpose(1, 2)
