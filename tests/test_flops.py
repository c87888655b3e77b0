"""Forward FLOPs per block and per model (DESIGN.md "Cost model essentials"; model_notes.md §4).

The DiT paper's "Gflops" are MACs (facebookresearch/DiT issue #14): true FLOPs = 2 x MACs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from parplan.model.flops import DEFAULT_VAE_ENCODER_FLOPS_PER_PIXEL, AttentionShape, model_cost
from parplan.model.geometry import token_geometry
from parplan.model.params import param_count
from parplan.specs import ModelSpec, WorkloadSpec, load_model, load_workload

REFERENCE = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "model_configs.yaml"
)
DIT_SIZES = {"S": (384, 6, 12), "B": (768, 12, 12), "L": (1024, 16, 24), "XL": (1152, 16, 28)}
DIT_TABLE4_GMACS_256 = {  # Peebles & Xie 2023 Table 4 (also model_configs.yaml conventions)
    "S/8": 0.36, "S/4": 1.41, "S/2": 6.06, "B/8": 1.42, "B/4": 5.56, "B/2": 23.01,
    "L/8": 5.01, "L/4": 19.70, "L/2": 80.71, "XL/8": 7.39, "XL/4": 29.05, "XL/2": 118.64,
}  # fmt: skip


def dit(label: str) -> ModelSpec:
    size, patch = label.split("/")
    hidden, heads, depth = DIT_SIZES[size]
    return ModelSpec(
        name=f"DiT-{label}",
        hidden=hidden,
        heads=heads,
        blocks=[{"type": "full", "count": depth}],
        patch=(1, int(patch), int(patch)),
    )


def image(px: int) -> WorkloadSpec:
    return WorkloadSpec(kind="image", height=px, width=px)


def forward_gmacs(model: ModelSpec, workload: WorkloadSpec) -> float:
    return model_cost(model, token_geometry(model, workload), workload).forward_flops / 2e9


def test_dit_xl_2_256_and_512():
    """DiT Table 4 / Sec. 5.1: XL/2 = 118.64 GMACs at 256 px and 524.60 at 512 px (0.5%)."""
    model = load_model("dit-xl-2")
    assert forward_gmacs(model, load_workload("imagenet-256")) == pytest.approx(118.64, rel=0.005)
    assert forward_gmacs(model, load_workload("imagenet-512")) == pytest.approx(524.60, rel=0.005)


@pytest.mark.parametrize("label", sorted(DIT_TABLE4_GMACS_256))
def test_dit_table4_all_twelve(label):
    """All 12 DiT Table 4 values within 1% (the printed values are rounded to 0.01)."""
    assert forward_gmacs(dit(label), image(256)) == pytest.approx(
        DIT_TABLE4_GMACS_256[label], rel=0.01
    )


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference absent")
def test_table4_constants_equal_reference():
    """The constants above are model_configs.yaml conventions.dit_paper_flops.table4_gflops_256."""
    ref = yaml.safe_load(REFERENCE.read_text())["conventions"]["dit_paper_flops"]
    assert ref["table4_gflops_256"] == DIT_TABLE4_GMACS_256
    assert ref["xl2_512"]["gflops"] == 524.60


def test_attention_shape_flops_and_causal_halving():
    """4 * sequences * q * kv * heads * head_dim (QK^T and AV), halved for causal."""
    shape = AttentionShape(kind="self", sequences=3, q_len=10, kv_len=20, heads=2, kv_heads=1,
                           head_dim=8)  # fmt: skip
    assert shape.flops == 4 * 3 * 10 * 20 * 2 * 8
    assert shape.model_copy(update={"causal": True}).flops == shape.flops / 2


def test_model_totals_are_consistent():
    """train = 3 x forward; full recompute = one more forward of the blocks; params agree."""
    model, workload = load_model("open-sora-1.2"), load_workload("video-256px-51f")
    cost = model_cost(model, token_geometry(model, workload), workload)
    blocks = sum(b.count * (b.gemm_flops + b.attention_flops) for b in cost.blocks)
    assert cost.train_flops == 3 * cost.forward_flops
    assert cost.recompute_flops_full == pytest.approx(blocks)
    assert cost.forward_flops == pytest.approx(blocks + cost.embed_flops)
    assert cost.params == param_count(model)
    for b in cost.blocks:
        assert b.params_tp_sharded + b.params_replicated == b.params
        assert b.attention_flops == pytest.approx(sum(s.flops for s in b.attention))


def test_spatial_temporal_attention_shapes():
    """Spatial attends within a frame (T sequences of S), temporal across frames (S of T);
    cross-attention q = N, kv = M (SPEC_FORMAT block types)."""
    model = load_model("open-sora-1.2")
    geo = token_geometry(model, load_workload("video-256px-51f"))  # 15 frames x 256 tokens
    spatial, temporal = model_cost(model, geo).blocks
    assert [(s.kind, s.sequences, s.q_len, s.kv_len) for s in spatial.attention] == [
        ("self", 15, 256, 256), ("cross", 1, 3840, 300)]  # fmt: skip
    assert (temporal.attention[0].sequences, temporal.attention[0].q_len) == (256, 15)


def test_joint_attention_rows():
    """mmdit: text tokens join the sequence: GEMM rows and attention length N + M."""
    model = load_model("flux-dev")
    cost = model_cost(model, token_geometry(model, load_workload("imagenet-512")))
    double, single = cost.blocks
    assert double.gemm_rows == single.gemm_rows == 1024 + 512
    assert double.attention[0].kind == "joint" and double.attention[0].q_len == 1536


def test_skiparse_sparse_group():
    """Open-Sora-Plan v1.3 Skiparse k=4 in blocks 2..29: self-attention FLOPs / 4."""
    model = load_model("open-sora-plan-1.3")
    dense, sparse, _ = model_cost(
        model, token_geometry(model, load_workload("video-480p-81f"))
    ).blocks
    assert sparse.attention[0].flops == pytest.approx(dense.attention[0].flops / 4, rel=1e-3)


def test_gpt_train_flops_per_token_narayanan():
    """Narayanan et al. 2021 eq. 3 without recompute: 72 B s l h² (1 + s/6h + V/12lh), with the
    attention term halved for causal masking; ~6 * params per token + attention."""
    layers, h, s, v = 96, 12288, 2048, 50257
    gpt3 = ModelSpec(name="gpt3", family="gpt", hidden=h, heads=96, vocab=v,
                     tied_embeddings=True, blocks=[{"type": "causal", "count": layers}],
                     extras={"position_embedding_rows": s})  # fmt: skip
    cost = model_cost(gpt3, token_geometry(gpt3, WorkloadSpec(kind="text", seq_len=s)))
    narayanan = (
        72 * s * layers * h * h * (1 + s / (12 * h) + v / (12 * layers * h))
    )  # causal s/6h -> s/12h
    assert cost.train_flops == pytest.approx(narayanan, rel=0.01)
    six_n = 6 * param_count(gpt3) * s + 3 * layers * 2 * s * s * h  # Kaplan 6N + causal attention
    assert cost.train_flops == pytest.approx(six_n, rel=0.01)


def test_online_encoder_flops():
    """VAE: FLOP/pixel x pixels x frames (default 4.2e6 for an SD f8 encoder, recorded as an
    assumption); text: 2 x params x tokens (public_cases.yaml Open-Sora notes: T5-XXL 4.76e9)."""
    model = ModelSpec(name="m", hidden=64, heads=4, blocks=[{"type": "full", "count": 1}],
                      cross_attention=True, text_tokens=120,
                      text_encoder={"params": 4.76e9, "tokens": 120})  # fmt: skip
    workload = WorkloadSpec(kind="video", frames=16, height=256, width=256,
                            online_encoding=["vae", "text"])  # fmt: skip
    cost = model_cost(model, token_geometry(model, workload), workload)
    expected = DEFAULT_VAE_ENCODER_FLOPS_PER_PIXEL * 256 * 256 * 16 + 2 * 4.76e9 * 120
    assert cost.encoder_flops == pytest.approx(expected)
    assert any("assumed" in a for a in cost.assumptions)
    pre = model_cost(model, token_geometry(model, workload))  # no workload: nothing online
    assert pre.encoder_flops == 0


@settings(max_examples=30, deadline=None)
@given(frames=st.integers(1, 60))
def test_more_frames_never_fewer_flops(frames):
    """Invariant: forward FLOPs grow with the number of frames."""
    model = load_model("wan2.1-1.3b")
    a = WorkloadSpec(kind="video", frames=4 * frames + 1, height=256, width=256)
    b = WorkloadSpec(kind="video", frames=4 * frames + 5, height=256, width=256)
    fa = model_cost(model, token_geometry(model, a)).forward_flops
    fb = model_cost(model, token_geometry(model, b)).forward_flops
    assert fb > fa


# ------------------------------------------------------------ torch FlopCounterMode cross-check


def _torch_block_flops(*, d: int, heads: int, n: int, m: int, frames: int, kind: str) -> float:
    """Forward FLOPs of a real DiT-style block in torch, counted by FlopCounterMode with the
    MATH SDPA backend (envcheck.md §6: the CPU flash kernel has no FLOP formula)."""
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention as sdpa
    from torch.utils.flop_counter import FlopCounterMode

    hd = d // heads
    qkv, proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
    fc1, fc2, ada = nn.Linear(d, 4 * d), nn.Linear(4 * d, d), nn.Linear(d, 6 * d)
    cq, ckv, cproj = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
    x, c, text = torch.randn(1, n, d), torch.randn(1, d), torch.randn(1, m, d)

    def heads_first(t, seqs):  # (seqs, len, d) -> (seqs, heads, len, hd)
        return t.reshape(seqs, -1, heads, hd).transpose(1, 2)

    def attention(h):
        if kind == "temporal":  # sequences = tokens per frame, length = frames
            h = h.reshape(frames, n // frames, d).transpose(0, 1)
        elif kind == "spatial":
            h = h.reshape(frames, n // frames, d)
        seqs = h.shape[0]
        q, k, v = qkv(h).chunk(3, dim=-1)
        out = sdpa(heads_first(q, seqs), heads_first(k, seqs), heads_first(v, seqs))
        out = proj(out.transpose(1, 2).reshape(seqs, -1, d))
        if kind == "temporal":
            out = out.transpose(0, 1)
        return out.reshape(1, n, d)

    def block():
        shift, scale, gate, *_ = ada(torch.nn.functional.silu(c)).chunk(6, dim=-1)
        h = x + gate * attention(nn.functional.layer_norm(x, (d,)) * (1 + scale) + shift)
        if kind == "cross":
            k, v = ckv(text).chunk(2, dim=-1)
            ca = sdpa(heads_first(cq(h), 1), heads_first(k, 1), heads_first(v, 1))
            h = h + cproj(ca.transpose(1, 2).reshape(1, n, d))
        return h + fc2(nn.functional.gelu(fc1(h), approximate="tanh"))

    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        block()
    return float(counter.get_total_flops())


@pytest.mark.parametrize("kind", ["full", "cross", "spatial", "temporal"])
def test_block_flops_match_torch_flop_counter(kind):
    """parplan's gemm + attention FLOPs of one block == torch.utils.flop_counter on the same
    block built in torch (DiT models.py DiTBlock; PixArt cross-attention; Latte factorized)."""
    d, heads, frames, per_frame, m = 64, 4, 4, 16, 8
    block_type = "full" if kind == "cross" else kind
    model = ModelSpec(name="tiny", hidden=d, heads=heads, blocks=[{"type": block_type, "count": 1}],
                      cross_attention=kind == "cross", text_tokens=m if kind == "cross" else 0,
                      patch=(1, 1, 1), vae={"temporal": 1, "spatial": 1})  # fmt: skip
    workload = WorkloadSpec(kind="video", frames=frames, height=4, width=4)
    cost = model_cost(model, token_geometry(model, workload)).blocks[0]
    measured = _torch_block_flops(d=d, heads=heads, n=frames * per_frame, m=m, frames=frames,
                                  kind=kind)  # fmt: skip
    assert cost.gemm_flops + cost.attention_flops == pytest.approx(measured, rel=1e-9)
