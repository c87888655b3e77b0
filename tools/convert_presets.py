"""Convert ../shared/reference/model_configs.yaml into parplan model presets (SPEC_FORMAT).

Run from the repo root: `python tools/convert_presets.py [path/to/model_configs.yaml]`.
Writes parplan/presets/models/<name>.yaml (committed; the package reads those, never this
script's input). Dimensions come from the reference file; the per-model `extras` that make
the parameter count exact (docs/spec_extensions.md) are in EXTRAS below, each justified by
model_notes.md §2. The sora-estimate preset is not converted: it is hand-written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "reference" / "model_configs.yaml"
OUT_DIR = ROOT / "parplan" / "presets" / "models"

# preset name -> reference key
NAMES = {
    "dit-xl-2": "dit_xl_2", "dit-l-2": "dit_l_2", "dit-b-2": "dit_b_2", "dit-s-2": "dit_s_2",
    "uvit-h-2": "uvit_h_2", "pixart-alpha": "pixart_alpha", "pixart-sigma": "pixart_sigma",
    "latte-xl-2": "latte_xl_2", "open-sora-1.2": "open_sora_1_2",
    "open-sora-2.0": "open_sora_2_0", "open-sora-plan-1.3": "open_sora_plan_v1_3",
    "cogvideox-2b": "cogvideox_2b", "cogvideox-5b": "cogvideox_5b",
    "hunyuanvideo": "hunyuanvideo", "wan2.1-1.3b": "wan2_1_t2v_1_3b",
    "wan2.1-14b": "wan2_1_t2v_14b", "mochi-1": "mochi_1", "ltx-video": "ltx_video_2b",
    "step-video-t2v": "step_video_t2v", "movie-gen-30b": "movie_gen_video_30b",
    "allegro": "allegro", "sd3-medium": "sd3_medium", "flux-dev": "flux_1_dev",
}  # fmt: skip

DIT = {"out_channels": 8, "label_classes": 1000}
PIXART = {"modulation": "single", "caption_projection": "mlp"}
MMDIT = {"caption_projection": "linear", "out_channels": 16}

# Mochi (model_notes §2.5): T5 attention pooling Lin(4096, 8192) + Lin(4096, 4096) +
# Lin(4096, 3072), plus 3*H*hd/2 = 4,608 learned RoPE frequencies.
MOCHI_EXTRA = (4096 * 8192 + 8192) + (4096 * 4096 + 4096) + (4096 * 3072 + 3072) + 3 * 24 * 128 // 2

EXTRAS: dict[str, dict] = {
    "dit-xl-2": DIT, "dit-l-2": DIT, "dit-b-2": DIT, "dit-s-2": DIT,
    # U-ViT (§2.2): no adaLN, 2 affine LNs per block, qkv without bias, time+class in-context
    # (2 joint tokens), learned pos-embed (2 + 256 rows), 14 long-skip Lin(2d, d), final LN.
    "uvit-h-2": {"modulation": "none", "timestep_mlp": False, "label_classes": 1000,
                 "out_channels": 4, "qkv_bias": False, "affine_norms_per_block": 2,
                 "joint_attention": True, "caption_projection": "none",
                 "position_embedding_rows": 258, "long_skip_linears": 14,
                 "final_norm_params": 2 * 1152},
    # PixArt-alpha 1024-MS resolution + aspect-ratio embedders: 2 * MLP(256, d/3, d/3).
    "pixart-alpha": {**PIXART, "out_channels": 8,
                     "embed_params_extra": 2 * ((256 * 384 + 384) + (384 * 384 + 384))},
    "pixart-sigma": {**PIXART, "out_channels": 8},
    "latte-xl-2": {"out_channels": 8, "label_classes": 0},
    # STDiT3 (§2.3): cross-attn in all 56 blocks, per-head RMS qk-norm in self-attn only,
    # fps embedder; chunked VAE 17 frames -> 5 latents (tail padded) (§3).
    "open-sora-1.2": {**PIXART, "out_channels": 8, "qk_norm": "rms_head", "cross_qk_norm": "none",
                      "fps_embed": True, "vae_chunk_frames": 17, "vae_chunk_latents": 5,
                      "vae_chunk_tail": "pad"},
    # FLUX-schnell-shaped + cond_in Lin(64 + 4, d) = 211,968 (§2.4).
    "open-sora-2.0": {**MMDIT, "qk_norm": "rms_head", "pooled_text_dim": 768,
                      "embed_params_extra": 68 * 3072 + 3072},
    # Skiparse (k = 4) in layers 2..29 (28 blocks) of 32: model_notes §3.
    "open-sora-plan-1.3": {**PIXART, "out_channels": 8, "attention_sparse_groups": [1],
                           "attention_sparse_k": 4},
    # CogVideoX (§2.7): expert adaLN 2 x Lin(512, 6d) per block, 2 affine LNs, LayerNorm(hd)
    # qk-norm, time MLP(d, 512, 512), caption Lin(4096, d), final 2 LNs (4d) + Lin(512, 2d).
    "cogvideox-2b": {"time_embed_dim": 512, "timestep_freq_dim": 1920, "modulation_linears": 2,
                     "affine_norms_per_block": 2, "qk_norm": "ln_head", "joint_attention": True,
                     "parallel_full_blocks": False, "caption_projection": "linear",
                     "out_channels": 16, "final_norm_params": 4 * 1920},
    "cogvideox-5b": {"time_embed_dim": 512, "timestep_freq_dim": 3072, "modulation_linears": 2,
                     "affine_norms_per_block": 2, "qk_norm": "ln_head", "joint_attention": True,
                     "parallel_full_blocks": False, "caption_projection": "linear",
                     "out_channels": 16, "final_norm_params": 4 * 3072},
    "hunyuanvideo": {**MMDIT, "qk_norm": "rms_head", "caption_projection": "refiner",
                     "guidance_embed": True, "pooled_text_dim": 768},
    # Wan (§2.6): shared time projection + per-block 6d bias (= adaLN-single), RMSNorm(d) q/k in
    # self and cross attention, affine LN before cross-attn.
    "wan2.1-1.3b": {**PIXART, "out_channels": 16, "qk_norm": "rms_across",
                    "affine_norms_per_block": 1},
    "wan2.1-14b": {**PIXART, "out_channels": 16, "qk_norm": "rms_across",
                   "affine_norms_per_block": 1},
    "mochi-1": {"caption_projection": "linear", "out_channels": 12, "qk_norm": "rms_head",
                "qkv_bias": False, "out_bias": True, "ffn_bias": False, "modulation_chunks": 4,
                "text_hidden": 1536, "text_ffn_hidden": 4096, "last_block_context_pre_only": True,
                "context_pre_only_modulation_chunks": 1, "embed_params_extra": MOCHI_EXTRA},
    "ltx-video": {**PIXART, "out_channels": 128, "qk_norm": "rms_across"},
    # Step-Video (§2.3): no attention/FFN biases, 2 affine LNs, per-head RMS qk-norm (self),
    # caption MLP(6144, d, d) + CLIP projection Lin(1024, d); chunked VAE 17 -> 3 (tail dropped).
    "step-video-t2v": {**PIXART, "out_channels": 64, "qk_norm": "rms_head",
                       "cross_qk_norm": "rms_head", "qkv_bias": False, "out_bias": False,
                       "ffn_bias": False, "affine_norms_per_block": 2, "text_dim": 6144,
                       "embed_params_extra": 1024 * 6144 + 6144, "vae_chunk_frames": 17,
                       "vae_chunk_latents": 3, "vae_chunk_tail": "drop"},
    # Movie Gen (§2.8): adaLN form unpublished -> adaLN-single assumed; RMSNorm.
    "movie-gen-30b": {**PIXART, "out_channels": 16, "norm": "rmsnorm", "qkv_bias": False,
                      "out_bias": False, "ffn_bias": False},
    "allegro": {**PIXART, "out_channels": 4},
    "sd3-medium": {**MMDIT, "pooled_text_dim": 2048, "last_block_context_pre_only": True},
    "flux-dev": {**MMDIT, "qk_norm": "rms_head", "guidance_embed": True, "pooled_text_dim": 768},
}  # fmt: skip

BLOCK_TYPES = {
    "dit_adaln_zero": "full", "uvit_in": "full", "uvit_mid": "full",
    "uvit_out_with_long_skip": "full", "pixart_cross_adaln_single": "full",
    "dit_adaln_zero_spatial": "spatial", "dit_adaln_zero_temporal": "temporal",
    "stdit3_spatial": "spatial", "stdit3_temporal": "temporal", "mmdit_double_stream": "mmdit",
    "mmdit_single_stream": "full", "cogvideox_expert_block": "full",
    "wan_cross_block": "full", "asymm_joint_block": "mmdit", "llama3_cross_adaln": "full",
}  # fmt: skip

# Movie Gen publishes no text length; 512 assumed (the cross-attention K/V count only).
TEXT_TOKENS_ASSUMED = {"movie-gen-30b": 512}


# Open-Sora-Plan v1.3: dense attention in layers 0, 1, 30, 31; Skiparse (k = 4) in 2..29, so the
# 32 blocks are three groups and extras.attention_sparse_groups names the middle one.
SPLIT_BLOCKS = {"open-sora-plan-1.3": [{"type": "full", "count": n} for n in (2, 28, 2)]}


def _blocks(name: str, arch: dict) -> list[dict]:
    if name in SPLIT_BLOCKS:
        return SPLIT_BLOCKS[name]
    merged: list[dict] = []
    for group in arch["blocks"]:
        kind = BLOCK_TYPES[group["type"]]
        if merged and merged[-1]["type"] == kind:
            merged[-1]["count"] += group["count"]
        else:
            merged.append({"type": kind, "count": group["count"]})
    return merged


def _vae(ref: dict) -> dict:
    temporal, spatial, _ = ref["vae"]["compression"]
    rule = ref["vae"]["temporal_rule"]
    if rule == "chunked":  # the chunk rule lives in extras; temporal/spatial kept for reference
        return {"temporal": temporal, "spatial": spatial, "causal": True}
    return {"temporal": temporal, "spatial": spatial, "causal": rule == "causal"}


def _text_tokens(name: str, ref: dict) -> int:
    if name in TEXT_TOKENS_ASSUMED:
        return TEXT_TOKENS_ASSUMED[name]
    if name == "uvit-h-2":
        return 2  # in-context time + class tokens (joint attention over 258)
    return int(ref["text"].get("max_tokens") or 0)


def convert(name: str, ref: dict) -> dict:
    arch = ref["arch"]
    injection = str(ref["text"].get("injection", ""))
    spec = {
        "name": name,
        "family": "dit",
        "hidden": arch["hidden_size"],
        "heads": arch["num_heads"],
        "head_dim": arch["head_dim"],
        "ffn_hidden": arch["ffn_dim"],
        "mlp": "swiglu" if arch["activation"] == "swiglu" else "gelu",
        "blocks": _blocks(name, arch),
        "cross_attention": injection.startswith("cross_attention"),
        "text_tokens": _text_tokens(name, ref),
        "patch": list(arch["patch_size"]),
        "in_channels": arch["in_channels"] // (4 if name in ("flux-dev", "open-sora-2.0") else 1),
        "vae": _vae(ref),
    }
    if ref["params"].get("exact"):
        spec["params_exact"] = int(ref["params"]["exact"])
    spec["extras"] = dict(EXTRAS.get(name, {}))
    return spec


def header(name: str, ref: dict) -> str:
    lines = [f"# {ref['name']} -- converted by tools/convert_presets.py from",
             "# ../shared/reference/model_configs.yaml (confidence: "
             f"{ref.get('confidence', 'n/a')}). Sources:"]  # fmt: skip
    lines += [f"#   - {src}" for src in ref["source"]]
    exact_src = ref["params"].get("exact_source") or ref["params"].get("estimate_note")
    if exact_src:
        lines.append(f"# params: {exact_src}")
    if name in ("flux-dev", "open-sora-2.0"):
        lines.append("# in_channels 16 with patch 2x2 == the released 64-channel packed latents.")
    if name in TEXT_TOKENS_ASSUMED:
        lines.append(f"# text_tokens {TEXT_TOKENS_ASSUMED[name]}: ASSUMED (not published).")
    return "\n".join(textwrap_lines(lines)) + "\n"


def textwrap_lines(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        while len(line) > 100:
            cut = line.rfind(" ", 0, 100)
            cut = cut if cut > 10 else 100
            out.append(line[:cut])
            line = "#     " + line[cut:].lstrip()
        out.append(line)
    return out


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    models = yaml.safe_load(source.read_text())["models"]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, key in NAMES.items():
        spec = convert(name, models[key])
        extras = spec.pop("extras")
        body = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)
        if extras:
            body += yaml.safe_dump({"extras": extras}, sort_keys=False, width=100)
        (OUT_DIR / f"{name}.yaml").write_text(header(name, models[key]) + body)
    print(f"wrote {len(NAMES)} presets to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
