"""The block anatomy drives parameters, FLOPs, GEMM shapes, traffic and the smoke model.

parplan/model/blocks.py describes each block type once; these tests check that one description
gives consistent numbers everywhere, against hand formulas (DiT block = 18d² + 15d parameters,
model_notes §2.1; Megatron TP splits, Shoeybi et al. 2019 §3) and against torch itself
(FlopCounterMode and parameter counts of the smoke model built from the anatomy).
"""

from __future__ import annotations

import pytest

from parplan.cost.step import predict
from parplan.model import blocks
from parplan.model.anatomy import BlockAnatomy, Sublayer, gemm_flops, param_split
from parplan.model.blocks import block_anatomy
from parplan.model.flops import model_cost
from parplan.model.gemms import backward_shapes, gemm_shapes, token_macs
from parplan.model.geometry import token_geometry
from parplan.model.params import param_count
from parplan.specs import (
    ModelSpec,
    StrategySpec,
    WorkloadSpec,
    load_cluster,
    load_model,
    load_workload,
    model_presets,
)


def _geometry(model: ModelSpec):
    workload = (WorkloadSpec(kind="text", seq_len=2048) if model.family == "gpt"
                else load_workload("video-480p-81f"))  # fmt: skip
    return token_geometry(model, workload)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", model_presets())
def test_gemm_shapes_add_up_to_the_gemm_flops(name):
    """For every preset and block: sum of 2·M·N·K over its GEMMs (one GPU = the whole block,
    micro-batch 1) equals the block's GEMM FLOPs, and the backward's dgrad + wgrad twice that."""
    model = load_model(name)
    geo = _geometry(model)
    for block in model_cost(model, geo).blocks:
        shapes = gemm_shapes(block.anatomy, geo, micro_batch=1)
        assert sum(s.flops for s in shapes) == block.gemm_flops
        bwd = [g for s in shapes for g in backward_shapes(s)]
        assert sum(g.flops for g in bwd) == 2 * block.gemm_flops


def test_dit_block_gemms_under_tp_and_sp():
    """DiT-XL/2 block at tp=2, sp=4, micro-batch 2 (Megatron: column splits N, row splits K;
    SP splits the token rows; adaLN runs per sample, whole)."""
    model = load_model("dit-xl-2")
    geo = token_geometry(model, load_workload("imagenet-256"))  # 256 tokens
    d = model.hidden
    shapes = {s.name: s for s in gemm_shapes(block_anatomy(model, "full"), geo, micro_batch=2,
                                             tp=2, sp=4)}  # fmt: skip
    rows = 2 * 256 // 4
    assert (shapes["attn.qkv"].m, shapes["attn.qkv"].n, shapes["attn.qkv"].k) == (rows, 3 * d // 2, d)
    assert (shapes["attn.out"].m, shapes["attn.out"].n, shapes["attn.out"].k) == (rows, d, d // 2)
    assert (shapes["mlp.fc1"].n, shapes["mlp.fc2"].k) == (4 * d // 2, 4 * d // 2)
    assert (shapes["modulation.linear"].m, shapes["modulation.linear"].n) == (2, 6 * d)
    assert {s.tp_role for s in shapes.values()} == {"column", "row", "replicated"}
    fastseq = {s.name: s for s in gemm_shapes(block_anatomy(model, "full"), geo, micro_batch=2,
                                              sp=4, sp_method="fastseq")}  # fmt: skip
    assert (fastseq["attn.qkv"].m, fastseq["attn.qkv"].n) == (2 * 256, 3 * d // 4)


def test_cross_attention_text_keys_are_whole_under_sp():
    """PixArt: cross q on the N/sp local tokens, k/v on all M text tokens on every rank."""
    model = load_model("pixart-alpha")
    geo = token_geometry(model, load_workload("imagenet-512"))
    shapes = {s.name: s for s in gemm_shapes(block_anatomy(model, "full"), geo, micro_batch=1,
                                             sp=2)}  # fmt: skip
    assert shapes["cross.q"].m == geo.tokens // 2
    assert shapes["cross.kv"].m == geo.text_tokens


def test_shares_of_a_dit_block():
    """Per-token MACs: QKV 3d², column-parallel QKV + FC1 = 7d², all 12d² (DiT block)."""
    model = load_model("dit-xl-2")
    d = model.hidden
    assert token_macs(block_anatomy(model, "full")) == (3 * d * d, 7 * d * d, 12 * d * d)


def _gptj_block(c: blocks.Ctx, block_type: str) -> BlockAnatomy:
    """A block type written once for this test: GPT-J's parallel attention + MLP (one
    LayerNorm feeds both; attention and MLP outputs are added), QKV without bias."""
    d, f, stream = c.dm.d, c.dm.ffn, "sequence"
    qkv = blocks.qkv_linear(c, stream, d).model_copy(update={"bias": False})
    fc1, fc2 = blocks.mlp_sublayer(c, name="mlp", stream=stream, width=d, ffn=f).linears
    # FC1 reads the attention's normed input: kept once
    mlp = Sublayer(name="mlp", steps=(fc1.model_copy(update={"saves_input": False}),
                                      *blocks.activation(c, stream, f), fc2))  # fmt: skip
    attn = Sublayer(name="attn", steps=(*blocks.pre_ops(c, stream, d), qkv,
                                        blocks.self_call(c, over="sequence", causal=True),
                                        blocks.out_linear(c, stream, d)))  # fmt: skip
    return BlockAnatomy(block_type=block_type, sublayers=(attn, mlp),
                        params=blocks.affine_norms(c, count=1))  # fmt: skip


def test_a_new_block_type_is_one_edit(monkeypatch, request):
    """Registering one builder changes parameters, FLOPs, GEMM shapes and the cost model's
    prediction together, and each agrees with the hand count of that block."""
    gpt = ModelSpec(name="gptj-ish", family="gpt", hidden=256, heads=8, vocab=1000,
                    blocks=[{"type": "causal", "count": 4}])  # fmt: skip
    text = WorkloadSpec(kind="text", seq_len=512, global_batch=8)
    base_params, base = param_count(gpt), model_cost(gpt, token_geometry(gpt, text))
    megatron_block = param_split(block_anatomy(gpt, "causal")).total
    monkeypatch.setitem(blocks.BUILDERS, "causal", _gptj_block)
    blocks.clear_cache()  # anatomies are cached per model object
    request.addfinalizer(blocks.clear_cache)
    d, f, s = 256, 1024, 512
    block = block_anatomy(gpt, "causal")
    # hand count: qkv 3d² (no bias), out d² + d, fc1 d·f + f, fc2 f·d + d, one LayerNorm 2d
    hand = 3 * d * d + d * d + d + d * f + f + f * d + d + 2 * d
    assert param_split(block).total == hand
    assert param_count(gpt) == base_params + 4 * (hand - megatron_block)
    geo = token_geometry(gpt, text)
    cost = model_cost(gpt, geo)
    assert cost.blocks[0].gemm_flops == 2.0 * s * (4 * d * d + 2 * d * f) == gemm_flops(block, geo)
    assert sum(g.flops for g in gemm_shapes(block, geo, micro_batch=1)) == cost.blocks[0].gemm_flops
    assert cost.blocks[0].attention[0].causal
    # one norm whose output both GEMMs read: 2X kept whole instead of Megatron's 4X
    x = s * d
    assert (cost.blocks[0].activations.whole, base.blocks[0].activations.whole) == (2 * x, 4 * x)
    cluster, strategy = load_cluster("h100-dgx-ndr400"), StrategySpec(dp=8, global_batch=8)
    assert predict(gpt, text, cluster, strategy, 8).step_time_s > 0


def test_fused_single_stream_linear_keeps_the_old_split():
    """FLUX single-stream: linear1 = [q, k, v, mlp] fused, linear2 = Lin(d + f, d) with one
    bias: 3d² + 3d + d·f + f + (d + f)·d + d + modulation Lin(d, 3d) (model_notes §2.4)."""
    model = load_model("flux-dev")
    d, f = model.hidden, model.ffn
    block = block_anatomy(model, "full")
    qk = 2 * model.d_head  # rms_head on q and k
    assert param_split(block).total == (3 * d * d + 3 * d + d * f + f + (d + f) * d + d
                                        + d * 3 * d + 3 * d + qk)  # fmt: skip
    names = [lin.name for lin in block.linears()]
    assert names == ["linear", "linear1", "linear2"]


def test_mmdit_streams_run_on_their_own_rows():
    """MM-DiT: the image stream's linears on N rows, the text stream's on M (Mochi's text
    stream is 1536 wide), one joint attention over N + M."""
    model = load_model("mochi-1")
    geo = _geometry(model)
    block = block_anatomy(model, "mmdit")
    shapes = {s.name: s for s in gemm_shapes(block, geo, micro_batch=1)}
    assert shapes["attn.qkv"].m == geo.tokens and shapes["text_attn.qkv"].m == geo.text_tokens
    assert shapes["text_attn.qkv"].k == 1536
    [call] = block.attention_calls()
    assert call.shape(geo).q_len == geo.tokens + geo.text_tokens


# ----------------------------------------------------------------------- the smoke model


def _smoke(**fields):
    pytest.importorskip("torch")
    from parplan.smoke.config import SmokeConfig, to_specs
    from parplan.smoke.model import build_model

    cfg = SmokeConfig(hidden=64, heads=4, tokens=64, frames=4, text_tokens=8, **fields)
    return cfg, to_specs(cfg), build_model(cfg)


def test_smoke_blocks_hold_the_anatomy_parameters():
    """Each torch block of the smoke model has exactly its anatomy's parameters."""
    cfg, (spec, _, _), model = _smoke(blocks=("full", "spatial", "temporal"), cross_attention=True)
    for torch_block, block_type in zip(model.blocks, cfg.blocks, strict=True):
        built = sum(p.numel() for p in torch_block.parameters())
        assert built == param_split(block_anatomy(spec, block_type)).total


@pytest.mark.parametrize("blocks_", [("full",), ("spatial", "temporal")])
def test_smoke_model_computes_the_anatomy_flops(blocks_):
    """torch.utils.flop_counter on one forward of the smoke model (math SDPA, envcheck.md §6)
    equals model_cost's forward FLOPs: blocks from the anatomy, embedders from flops.py."""
    torch = pytest.importorskip("torch")
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from parplan.smoke.model import make_batch

    cfg, (spec, workload, _), model = _smoke(blocks=blocks_, cross_attention=True)
    batch = make_batch(cfg)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(batch["x"], batch["c"], batch["text"])
    expected = model_cost(spec, token_geometry(spec, workload)).forward_flops
    assert counter.get_total_flops() == pytest.approx(expected, rel=1e-12)
