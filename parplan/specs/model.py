"""Model and workload specs (SPEC_FORMAT.md "Model", "Workload")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from parplan.specs.base import (
    ACTIVATION_BYTES,
    BlockType,
    NonNegInt,
    PosFloat,
    PosInt,
    Precision,
    Spec,
)


class BlockGroup(Spec):
    type: BlockType
    count: PosInt


class VaeSpec(Spec):
    temporal: PosInt = 1
    spatial: PosInt = 8
    causal: bool = False
    encoder_flops_per_pixel: PosFloat | None = None  # true FLOPs per input pixel per frame


class TextEncoderSpec(Spec):
    params: PosFloat
    tokens: PosInt


class ModelSpec(Spec):
    name: str
    family: Literal["dit", "gpt"] = "dit"
    hidden: PosInt
    heads: PosInt
    kv_heads: PosInt | None = None
    head_dim: PosInt | None = None
    ffn_hidden: PosInt | None = None
    mlp: Literal["gelu", "swiglu"] = "gelu"
    blocks: list[BlockGroup] = Field(min_length=1)
    cross_attention: bool = False
    text_tokens: NonNegInt = 0
    patch: tuple[PosInt, PosInt, PosInt] = (1, 2, 2)
    in_channels: PosInt = 4
    vae: VaeSpec | None = None
    text_encoder: TextEncoderSpec | None = None
    vocab: NonNegInt = 0
    tied_embeddings: bool = False
    params_exact: PosInt | None = None
    # Extension keys (docs/spec_extensions.md): exact parameter counts need the embedders.
    extras: dict[str, Any] = Field(default_factory=dict)

    @field_validator("extras")
    @classmethod
    def _extras_not_negative(cls, extras: dict[str, Any]) -> dict[str, Any]:
        """Every numeric extension key is a count or a width (parplan/model/options.py)."""
        for key, value in extras.items():
            numbers = [v for v in (value if isinstance(value, list) else [value])
                       if isinstance(v, int | float) and not isinstance(v, bool)]  # fmt: skip
            if any(not n >= 0 for n in numbers):
                raise ValueError(f"has {key!r}: {value!r}: a count or width must be >= 0")
        return extras

    @model_validator(mode="after")
    def _check_heads(self) -> ModelSpec:
        if self.head_dim is None and self.hidden % self.heads != 0:
            raise ValueError(
                f"heads={self.heads} must divide hidden={self.hidden} (or give head_dim)"
            )
        if self.kv_heads is not None and self.heads % self.kv_heads != 0:
            raise ValueError(f"kv_heads={self.kv_heads} must divide heads={self.heads}")
        return self

    @property
    def n_kv_heads(self) -> int:
        return self.kv_heads or self.heads

    @property
    def d_head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def ffn(self) -> int:
        return self.ffn_hidden or 4 * self.hidden

    @property
    def depth(self) -> int:
        return sum(group.count for group in self.blocks)


class WorkloadSpec(Spec):
    name: str = "workload"
    kind: Literal["image", "video", "text"]
    frames: PosInt = 1
    height: PosInt | None = None
    width: PosInt | None = None
    vae: VaeSpec | None = None
    seq_len: PosInt | None = None
    global_batch: PosInt = 1
    precision: Precision = "bf16"
    train_samples: PosFloat | None = None
    online_encoding: list[Literal["vae", "text"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_kind(self) -> WorkloadSpec:
        if self.kind == "text" and self.seq_len is None:
            raise ValueError("kind=text needs seq_len")
        if self.kind != "text" and (self.height is None or self.width is None):
            raise ValueError(f"kind={self.kind} needs height and width")
        if self.kind == "image" and self.frames != 1:
            raise ValueError(f"kind=image needs frames=1, got {self.frames}")
        return self

    @property
    def element_bytes(self) -> int:
        """Bytes per activation / communicated element (16-bit under fp8 training)."""
        return ACTIVATION_BYTES[self.precision]
