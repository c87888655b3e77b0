"""Ring attention beyond its forward K/V bytes (test_strategies.py): what the reference
implementations (zhuzilin/ring-flash-attention, yunchang/ring) add around the flash kernels.

* The per-step merges of fp32 accumulators (out, then dq, dk, dv), counted by hand from the
  kernels' operands, and checked by running the same update on tensors and adding up the bytes
  of what it reads and writes.
* dK, dV travel the ring as fp32 accumulators.
* Cross-attention keys are whole on every rank: no ring steps.
"""

from __future__ import annotations

import pytest

from parplan.cost.attention import (
    ACCUMULATOR_BYTES,
    Split,
    attention_time,
    fused_step_bytes,
    ring_merge_bytes,
)
from parplan.cost.block import block_compute, block_shape, resolve
from parplan.cost.device import Device, Efficiency
from parplan.cost.strategies.base import BlockShape
from parplan.cost.strategies.ring import ring_calls
from parplan.model.flops import AttentionShape
from parplan.specs import StackSpec, StrategySpec, load_cluster, load_model, load_workload

SHAPE = AttentionShape(kind="self", sequences=1, q_len=1024, kv_len=1024, heads=8, kv_heads=8,
                       head_dim=64)  # fmt: skip


def test_merge_bytes_by_hand() -> None:
    """ring 4, bf16, 4 GPUs: 1024·8·64/4 output elements; per element a cast in (2 + 4), a cast
    out (4 + 2) and three merges of r 4 + r 2 + w 4."""
    split = Split(micro_batch=1, gpus=4, ring=4, element_bytes=2)
    fwd, bwd = ring_merge_bytes(SHAPE, split)
    elems = 1024 * 8 * 64 / 4
    per_element = (2 + 4) + (4 + 2) + 3 * (4 + 2 + 4)
    assert fwd == elems * per_element
    assert bwd == 3 * elems * per_element  # dq, dk, dv (MHA: K/V as large as Q)


def test_merge_bytes_equal_the_operands_of_the_update() -> None:
    """Run the forward merge loop of the reference code on small tensors (fp32 accumulator,
    bf16 blocks) and add the bytes each fused step reads and writes: the block output it reads,
    the accumulator it reads and the accumulator it writes; plus the first cast and the last."""
    torch = pytest.importorskip("torch")
    ring, rows, heads, dim = 4, 16, 2, 8
    blocks = [torch.randn(1, rows, heads, dim).bfloat16() for _ in range(ring)]
    lses = [torch.randn(1, heads, rows) for _ in range(ring)]
    moved = blocks[0].nbytes + blocks[0].float().nbytes  # out = block_out.to(float32)
    out, lse = blocks[0].float(), lses[0].transpose(-2, -1).unsqueeze(-1)
    for block, block_lse in zip(blocks[1:], lses[1:], strict=True):
        b_lse = block_lse.transpose(-2, -1).unsqueeze(-1)
        new = out - torch.sigmoid(b_lse - lse) * (out - block.float())
        moved += out.nbytes + block.nbytes + new.nbytes  # the fused kernel's wide operands
        out, lse = new, lse - torch.nn.functional.logsigmoid(lse - b_lse)
    final = out.bfloat16()
    moved += out.nbytes + final.nbytes
    shape = AttentionShape(kind="self", sequences=1, q_len=rows * ring, kv_len=rows * ring,
                           heads=heads, kv_heads=heads, head_dim=dim)  # fmt: skip
    fwd, _ = ring_merge_bytes(shape, Split(micro_batch=1, gpus=ring, ring=ring, element_bytes=2))
    assert fwd == moved
    assert out.element_size() == ACCUMULATOR_BYTES


def test_ring_adds_the_merges_to_the_attention_time() -> None:
    """On a device with no FLOP limit and no launch cost a ring of 4 differs from the same split
    without ring steps by the merge traffic over HBM and by each step's kernel re-reading its
    queries (and writing its output) once per step."""
    eff = Efficiency(gemm_max=1.0, attention_max=1.0, hbm=1.0, conv_max=1.0, kernel_overhead_s=0.0)
    device = Device(peak_flop_per_s=1e30, hbm_bytes_per_s=1e12, eff=eff)
    ringed = Split(micro_batch=1, gpus=4, ring=4, element_bytes=2)
    plain = ringed.model_copy(update={"ring": 1})
    r, p = attention_time(SHAPE, ringed, device, StackSpec()), attention_time(SHAPE, plain, device, StackSpec())
    fwd, bwd = ring_merge_bytes(SHAPE, ringed)
    steps = {d: 4 * fused_step_bytes(SHAPE, ringed, direction=d) - fused_step_bytes(SHAPE, plain, direction=d)
             for d in ("fwd", "bwd")}  # fmt: skip
    assert r.fwd_s - p.fwd_s == pytest.approx((fwd + steps["fwd"]) / 1e12)
    assert r.bwd_s - p.bwd_s == pytest.approx((bwd + steps["bwd"]) / 1e12)


@pytest.mark.parametrize(("element_bytes", "ratio"), [(2, 2.0), (4, 1.0)])
def test_dkv_travels_in_fp32(element_bytes: int, ratio: float) -> None:
    shape = BlockShape(block_type="full", micro_batch=1, rows=4096, hidden=1024, kv_width=1024,
                       self_attentions=1, cross_attention=False, text_rows=0,
                       element_bytes=element_bytes, params_replicated=0, params_tp_sharded=0)  # fmt: skip
    _, bwd = ring_calls(shape, degree=4)
    kv, dkv = (c for c in bwd)
    assert (kv.label, dkv.label) == ("ring.kv", "ring.dkv")
    assert dkv.buffer_bytes == ratio * kv.buffer_bytes


def test_cross_attention_runs_without_ring_steps() -> None:
    """Text keys are replicated: ring SP changes the cross-attention's time only by the split of
    its queries, exactly as Ulysses' does, so the two cross-attention times are equal."""
    model, workload = load_model("open-sora-1.2"), load_workload("video-256px-51f")
    cluster = load_cluster("h100-dgx-ndr400")
    cross_s = {}
    for method in ("ring", "ulysses"):
        s = StrategySpec(dp=1, sp=8, sp_method=method, micro_batch=1, global_batch=1)
        inp = resolve(model, workload, cluster, s, 8)
        block = next(b for b in inp.cost.blocks if any(a.kind == "cross" for a in b.attention))
        parts = block_compute(inp, block, block_shape(inp, block), Device.of(cluster, "bf16"))
        cross_s[method] = parts.attention_s - parts.self_attention_s
    assert cross_s["ring"] > 0
    assert cross_s["ring"] == pytest.approx(cross_s["ulysses"], rel=1e-12)
