"""Token geometry: VAE rules and token counts (SPEC_FORMAT.md "Workload"; model_notes.md §3)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from repo_files import load_tool

from parplan.model.geometry import default_workload_name, token_geometry
from parplan.specs import ModelSpec, WorkloadSpec, load_model, load_workload

REFERENCE = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "model_configs.yaml"
)



def _converter_names() -> dict[str, str]:
    """tools/convert_presets.py NAMES (preset name -> reference key), the one copy of the map;
    tools/ is a folder of scripts, not a package, so it is loaded from its path."""
    return load_tool("convert_presets").NAMES


# reference key (model_configs.yaml) -> preset name
PRESET_OF = {key: name for name, key in _converter_names().items()}


def video(frames: int, height: int, width: int, **kw) -> WorkloadSpec:
    return WorkloadSpec(kind="video" if frames > 1 else "image", frames=frames, height=height,
                        width=width, **kw)  # fmt: skip


def typical_cases() -> list:
    if not REFERENCE.exists():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="reference absent"))]
    models = yaml.safe_load(REFERENCE.read_text())["models"]
    return [
        pytest.param(PRESET_OF[key], case, id=f"{PRESET_OF[key]}:{case['label']}")
        for key, ref in models.items() if key in PRESET_OF for case in ref["typical"]
    ]  # fmt: skip


def test_hunyuanvideo_720p_129f():
    """model_notes.md §3: HunyuanVideo 129 x 720p -> 118,800 tokens (+256 joint text tokens)."""
    geo = token_geometry(load_model("hunyuanvideo"), load_workload("video-720p-129f"))
    assert (geo.latent_frames, geo.latent_height, geo.latent_width) == (33, 90, 160)
    assert geo.tokens == 118_800 and geo.text_tokens == 256 and geo.joint
    assert geo.attention_tokens == 119_056


def test_wan_14b_720p_81f():
    """model_notes.md §3: Wan2.1 81 x 720p -> 75,600 tokens; text is cross-attention only."""
    geo = token_geometry(load_model("wan2.1-14b"), load_workload("video-720p-81f"))
    assert geo.tokens == 75_600 and not geo.joint and geo.attention_tokens == 75_600


@pytest.mark.parametrize(("preset", "case"), typical_cases())
def test_typical_entries_match_reference(preset, case):
    """Every `typical` entry of model_configs.yaml: latent grid, tokens and text tokens."""
    model = load_model(preset)
    workload = video(case["frames"], case["height"], case["width"])
    geo = token_geometry(model, workload)
    assert [geo.latent_frames, geo.latent_height, geo.latent_width] == case["latent_thw"]
    assert geo.tokens == case["tokens"]
    if "text_tokens" in case:
        assert geo.text_tokens == case["text_tokens"]
    if "joint_seq_len" in case:
        assert geo.attention_tokens == case["joint_seq_len"]
    if "spatial_seq_len" in case:
        assert geo.tokens_per_frame == case["spatial_seq_len"]
        assert geo.frames == case["temporal_seq_len"]


def test_causal_and_non_causal_rules():
    """SPEC_FORMAT: causal T' = 1 + (F-1)/t; non-causal T' = F/t."""
    base = dict(name="m", hidden=64, heads=4, blocks=[{"type": "full", "count": 1}])
    causal = ModelSpec(**base, vae={"temporal": 4, "spatial": 8, "causal": True})
    flat = ModelSpec(**base, vae={"temporal": 4, "spatial": 8, "causal": False})
    assert token_geometry(causal, video(81, 256, 256)).latent_frames == 21
    assert token_geometry(flat, video(88, 256, 256)).latent_frames == 22


def test_workload_vae_overrides_model_and_default_is_f8_image():
    """SPEC_FORMAT: a workload vae overrides the model's; no vae: temporal 1, spatial 8."""
    model = ModelSpec(name="m", hidden=64, heads=4, blocks=[{"type": "full", "count": 1}])
    assert token_geometry(model, video(16, 256, 256)).tokens == 16 * 256
    override = video(16, 256, 256, vae={"temporal": 4, "spatial": 16})
    geo = token_geometry(load_model("wan2.1-14b"), override)
    assert (geo.latent_frames, geo.tokens_per_frame) == (4, 64)


def test_non_divisible_sizes_pad_up_with_a_warning():
    """1080 / 8 = 135 latent rows, odd for patch 2 -> padded to 68 token rows, with a warning."""
    with pytest.warns(UserWarning, match="latent height=135"):
        geo = token_geometry(load_model("wan2.1-14b"), video(81, 1080, 1920))
    assert geo.tokens_per_frame == 68 * 120
    assert any("135" in w for w in geo.warnings)


def test_chunked_vaes():
    """model_notes §3: Open-Sora 1.2 102 frames -> 30 latents (17-frame chunks -> 5, tail padded);
    Step-Video 204 -> 36 and 205 -> 36 (17 -> 3, tail dropped)."""
    os12, step = load_model("open-sora-1.2"), load_model("step-video-t2v")
    assert token_geometry(os12, video(102, 256, 256)).latent_frames == 30
    assert token_geometry(os12, video(51, 256, 256)).latent_frames == 15
    with pytest.warns(UserWarning, match="tail chunk"):
        assert token_geometry(os12, video(110, 256, 256)).latent_frames == 32
    with pytest.warns(UserWarning, match="dropped"):
        assert token_geometry(step, video(205, 544, 992)).latent_frames == 36


def test_text_workload_for_gpt():
    """gpt family: tokens = seq_len, no text tokens, no joint attention."""
    gpt = ModelSpec(name="g", family="gpt", hidden=64, heads=4, vocab=100,
                    blocks=[{"type": "causal", "count": 2}])  # fmt: skip
    geo = token_geometry(gpt, WorkloadSpec(kind="text", seq_len=2048))
    assert (geo.tokens, geo.text_tokens, geo.joint) == (2048, 0, False)


def test_default_workloads():
    """docs/models.md: image DiTs default to imagenet-256, video DiTs to video-720p-129f."""
    assert default_workload_name(load_model("dit-xl-2")) == "imagenet-256"
    assert default_workload_name(load_model("latte-xl-2")) == "video-720p-129f"
    assert default_workload_name(load_model("step-video-t2v")) == "video-720p-129f"


@given(frames=st.integers(1, 400), h=st.integers(1, 80), w=st.integers(1, 80))
def test_tokens_are_frames_times_tokens_per_frame(frames, h, w):
    """Invariant: N = T * S, and more frames never give fewer tokens (padding only rounds up)."""
    model = load_model("wan2.1-1.3b")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        geo = token_geometry(model, video(frames, 16 * h, 16 * w))
        more = token_geometry(model, video(frames + 1, 16 * h, 16 * w))
    assert geo.tokens == geo.frames * geo.tokens_per_frame == geo.frames * h * w
    assert more.tokens >= geo.tokens
