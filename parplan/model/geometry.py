"""Token geometry: how a workload's pixels become the token sequences a model attends over.

video (F frames, H x W) --VAE--> latent (T', H', W') --patch (pt, ph, pw)--> tokens N = T * S,
with T = T'/pt latent frames after the temporal patch and S = (H'/ph) * (W'/pw) tokens per frame.
Rules: ../shared/SPEC_FORMAT.md ("Workload", "Tokens per sample") and
../shared/reference/model_notes.md §3 (causal / non-causal / chunked VAE rules).
Sizes that do not divide are padded up (ceil) and the padding is reported as a warning.
"""

from __future__ import annotations

import warnings

from pydantic import BaseModel, ConfigDict, Field

from parplan.errors import SpecError
from parplan.specs import ModelSpec, VaeSpec, WorkloadSpec, ceil_div

# A model without a VAE in its spec: SD-style f8 image VAE, no temporal compression (SPEC_FORMAT).
DEFAULT_VAE = VaeSpec(temporal=1, spatial=8, causal=False)


class TokenGeometry(BaseModel):
    """Per-sample token counts; `tokens` excludes the text tokens (see `joint`)."""

    model_config = ConfigDict(frozen=True)

    latent_frames: int  # T' (before the temporal patch)
    latent_height: int  # H'
    latent_width: int  # W'
    frames: int  # T = T' / pt: latent frames after the temporal patch
    tokens_per_frame: int  # S = (H'/ph) * (W'/pw)
    tokens: int  # N = T * S (text: seq_len)
    text_tokens: int  # M: conditioning tokens (cross-attention K/V or joint tokens)
    joint: bool  # True when the M text tokens join the self-attention sequence (mmdit)
    warnings: list[str] = Field(default_factory=list)

    @property
    def attention_tokens(self) -> int:
        """Length of the full self-attention sequence: N, or N + M for joint attention."""
        return self.tokens + (self.text_tokens if self.joint else 0)


def _padded(*, size: int, divisor: int, what: str, notes: list[str]) -> int:
    """ceil(size / divisor), recording a warning when it pads."""
    if size % divisor:
        padded = ceil_div(size, divisor)
        notes.append(
            f"{what}={size} is not divisible by {divisor}: padded up to {padded * divisor} "
            f"({padded} after division)"
        )
        return padded
    return size // divisor


def effective_vae(model: ModelSpec, workload: WorkloadSpec) -> VaeSpec:
    """The workload's VAE overrides the model's; neither given: the default f8 image VAE."""
    return workload.vae or model.vae or DEFAULT_VAE


def _chunked_latent_frames(*, frames: int, extras: dict, notes: list[str]) -> int:
    """Chunked video VAEs (model_notes.md §3): Open-Sora 1.2 pads the tail, Step-Video drops it."""
    chunk, latents = int(extras["vae_chunk_frames"]), int(extras["vae_chunk_latents"])
    tail_policy = extras.get("vae_chunk_tail", "pad")
    full, tail = divmod(frames, chunk)
    if tail == 0:
        return full * latents
    if tail_policy == "drop":
        notes.append(
            f"frames={frames}: the last {tail} frames (not a full {chunk}-frame chunk) are dropped"
        )
        return full * latents
    # Open-Sora 1.2: a 17-frame micro-chunk is padded to 20 -> 5 latents: tail r -> ceil(r / 4).
    temporal = ceil_div(chunk, latents)
    notes.append(
        f"frames={frames}: tail chunk of {tail} frames padded up to a multiple of {temporal}"
    )
    return full * latents + ceil_div(tail, temporal)


def latent_frames(*, frames: int, vae: VaeSpec, notes: list[str]) -> int:
    """T' from F pixel frames: causal 1 + (F-1)/t, else F/t (SPEC_FORMAT, Workload)."""
    if vae.temporal == 1:
        return frames
    if vae.causal:
        return 1 + _padded(size=frames - 1, divisor=vae.temporal, what="frames-1", notes=notes)
    return _padded(size=frames, divisor=vae.temporal, what="frames", notes=notes)


def uses_joint_attention(model: ModelSpec) -> bool:
    """Text tokens inside self-attention: mmdit blocks, or extras.joint_attention (CogVideoX)."""
    explicit = model.extras.get("joint_attention")
    if explicit is not None:
        return bool(explicit)
    return any(group.type == "mmdit" for group in model.blocks)


def _text_geometry(model: ModelSpec, workload: WorkloadSpec) -> TokenGeometry:
    seq_len = int(workload.seq_len or 0)
    return TokenGeometry(
        latent_frames=1, latent_height=1, latent_width=seq_len, frames=1,
        tokens_per_frame=seq_len, tokens=seq_len, text_tokens=0, joint=False,
    )  # fmt: skip


def _check_pairing(model: ModelSpec, workload: WorkloadSpec) -> None:
    if model.family == "gpt" and workload.kind != "text":
        raise SpecError(f"model {model.name!r} is family=gpt and needs a kind=text workload, "
                        f"got kind={workload.kind}")  # fmt: skip
    if model.family == "dit" and workload.kind == "text":
        raise SpecError(f"model {model.name!r} is family=dit and needs an image or video workload, "
                        f"got kind=text")  # fmt: skip


def token_geometry(model: ModelSpec, workload: WorkloadSpec) -> TokenGeometry:
    """Latent grid and token counts of one sample of `workload` under `model`."""
    _check_pairing(model, workload)
    if workload.kind == "text":
        return _text_geometry(model, workload)
    notes: list[str] = []
    vae = effective_vae(model, workload)
    chunked = workload.vae is None and "vae_chunk_frames" in model.extras
    if chunked:
        t_lat = _chunked_latent_frames(frames=workload.frames, extras=model.extras, notes=notes)
    else:
        t_lat = latent_frames(frames=workload.frames, vae=vae, notes=notes)
    assert workload.height is not None and workload.width is not None
    h_lat = _padded(size=workload.height, divisor=vae.spatial, what="height", notes=notes)
    w_lat = _padded(size=workload.width, divisor=vae.spatial, what="width", notes=notes)
    pt, ph, pw = model.patch
    frames = _padded(size=t_lat, divisor=pt, what="latent frames", notes=notes)
    per_frame = _padded(size=h_lat, divisor=ph, what="latent height", notes=notes) * _padded(
        size=w_lat, divisor=pw, what="latent width", notes=notes
    )
    for note in notes:
        warnings.warn(f"{model.name} x {workload.name}: {note}", stacklevel=2)
    return TokenGeometry(
        latent_frames=t_lat, latent_height=h_lat, latent_width=w_lat, frames=frames,
        tokens_per_frame=per_frame, tokens=frames * per_frame, text_tokens=model.text_tokens,
        joint=uses_joint_attention(model), warnings=notes,
    )  # fmt: skip


VIDEO_BLOCK_TYPES = ("spatial", "temporal", "spatial_temporal")


def is_video_model(model: ModelSpec) -> bool:
    """Video model: factorized blocks, or a VAE that compresses time (model_notes §3)."""
    vae = model.vae or DEFAULT_VAE
    chunked = "vae_chunk_frames" in model.extras
    return chunked or vae.temporal > 1 or any(g.type in VIDEO_BLOCK_TYPES for g in model.blocks)


def default_workload_name(model: ModelSpec) -> str | None:
    """`parplan model` without --workload: imagenet-256 for image DiTs, video-720p-129f for
    video DiTs, none for gpt (a text workload needs a seq_len: give --workload)."""
    if model.family == "gpt":
        return None
    return "video-720p-129f" if is_video_model(model) else "imagenet-256"
