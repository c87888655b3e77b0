"""Trainable parameter counts (model_notes.md §2; model_configs.yaml `params.exact`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from parplan.errors import SpecError
from parplan.model.params import arch_options, block_params, caption_params, dims, param_count
from parplan.specs import ModelSpec, load_model, model_presets

REFERENCE = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "model_configs.yaml"
)
PUBLIC_CASES = REFERENCE.parents[1] / "validation" / "public_cases.yaml"


def test_dit_xl_2_params():
    """DiT paper Table 4 / facebookresearch/DiT models.py: 674,834,720 trainable (within 0.2%)."""
    assert param_count(load_model("dit-xl-2")) == pytest.approx(674_834_720, rel=0.002)


def test_presets_match_params_exact_and_report_worst_three():
    """Every preset with params_exact (model_configs.yaml `params.exact`) within 1%."""
    errors = []
    for name in model_presets():
        model = load_model(name)
        if model.params_exact:
            errors.append((abs(param_count(model) / model.params_exact - 1), name))
    errors.sort(reverse=True)
    print("\nworst three relative parameter errors vs params_exact:")
    for err, name in errors[:3]:
        print(f"  {name:20s} {err:.3e}")
    assert len(errors) >= 22
    assert errors[0][0] < 0.01, errors[:3]


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference absent")
def test_preset_params_exact_equal_reference():
    """The committed presets carry model_configs.yaml's exact numbers unchanged."""
    from test_geometry import PRESET_OF

    models = yaml.safe_load(REFERENCE.read_text())["models"]
    for key, preset in PRESET_OF.items():
        assert load_model(preset).params_exact == models[key]["params"].get("exact"), preset


@pytest.mark.skipif(not PUBLIC_CASES.exists(), reason="../shared/validation absent")
def test_plain_spec_without_extras_counts_as_dit():
    """public_cases.yaml's DiT-XL/2 has no extras: DiT defaults give the DiT count exactly."""
    cases = yaml.safe_load(PUBLIC_CASES.read_text())
    spec = next(c["model"] for c in cases if c["id"].startswith("fastdit"))
    assert param_count(ModelSpec.model_validate(spec)) == 674_834_720
    for case in cases:  # every public model is countable
        assert param_count(ModelSpec.model_validate(case["model"])) > 0


def test_dit_block_tp_split():
    """Megatron TP: qkv/out/fc1/fc2 weights + qkv and fc1 biases are sharded; out/fc2 biases,
    adaLN Lin(d, 6d) replicated. DiT block = 18d² + 15d (model_notes §2.1)."""
    model = load_model("dit-xl-2")
    d = model.hidden
    split = block_params(model, "full")
    assert split.total == 18 * d * d + 15 * d
    assert split.sharded == 12 * d * d + 3 * d + 4 * d
    assert split.replicated == 6 * d * d + 6 * d + 2 * d


def test_hunyuan_token_refiner():
    """model_notes §2.4: HunyuanVideo token refiner (2 layers) = 309,175,296 parameters."""
    model = load_model("hunyuanvideo")
    opts = arch_options(model)
    assert caption_params(model, opts, dims(model, opts)) == 309_175_296


def test_unknown_extras_key_is_an_error():
    """Unknown keys are an error (SPEC_FORMAT), in extras too: the message names the key."""
    model = ModelSpec(name="m", hidden=64, heads=4, blocks=[{"type": "full", "count": 1}],
                      extras={"qk_nrom": "rms_head"})  # fmt: skip
    with pytest.raises(SpecError, match="qk_nrom"):
        param_count(model)


def test_gpt3_175b():
    """GPT-3 175B (Brown et al. 2020 Table 2.1: 96 layers, d 12288, 96 heads, 2048 context,
    vocab 50257, learned positions, tied embeddings) -> 175B within 1%."""
    gpt3 = ModelSpec(name="gpt3", family="gpt", hidden=12288, heads=96, vocab=50257,
                     tied_embeddings=True, blocks=[{"type": "causal", "count": 96}],
                     extras={"position_embedding_rows": 2048})  # fmt: skip
    assert param_count(gpt3) == pytest.approx(175e9, rel=0.01)


def test_gpt_gqa_and_swiglu():
    """GQA shrinks k/v to kv_heads*head_dim; SwiGLU has 3 d x f matrices (Llama 2 70B: 80 layers,
    d 8192, 64 heads / 8 kv heads, f 28672, vocab 32000, untied, RMSNorm -> 68.98B)."""
    llama = ModelSpec(name="llama2-70b", family="gpt", hidden=8192, heads=64, kv_heads=8,
                      ffn_hidden=28672, mlp="swiglu", vocab=32000,
                      blocks=[{"type": "causal", "count": 80}],
                      extras={"qkv_bias": False, "out_bias": False, "ffn_bias": False,
                              "norm": "rmsnorm"})  # fmt: skip
    assert param_count(llama) == 68_976_648_192
