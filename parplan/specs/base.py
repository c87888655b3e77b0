"""What every spec shares: the frozen, strict base class, units, precisions and value types."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

GIB = 1024**3
GB = 1e9


PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]

BlockType = Literal["full", "spatial", "temporal", "mmdit", "spatial_temporal", "causal"]
Precision = Literal["bf16", "fp16", "fp8", "fp32"]
SpMethod = Literal["none", "ulysses", "ring", "fastseq", "usp", "dsp"]
CkptMode = Literal["none", "selective", "full"]
AttentionKernel = Literal["flash2", "flash3", "cudnn", "unfused"]
ParallelDim = Literal["tp", "sp", "dp", "pp"]

ELEMENT_BYTES: dict[str, int] = {"bf16": 2, "fp16": 2, "fp8": 1, "fp32": 4}
# Bytes of an activation, a communicated tensor and a gradient element. fp8 training with NVIDIA
# Transformer Engine (Megatron-Core, NeMo; TE user guide, "Using FP8 with Transformer Engine")
# casts to fp8 inside its Linear/LayerNormLinear/LayerNormMLP modules for the GEMMs only, so
# what flows between modules, what is communicated and the gradients stay 16-bit.
ACTIVATION_BYTES: dict[str, int] = {**ELEMENT_BYTES, "fp8": 2}
# The precision attention runs at: TE's fused attention stays bf16 in fp8 training by default.
ATTENTION_PRECISION: dict[str, str] = {"fp8": "bf16"}


class Spec(BaseModel):
    """Base: frozen, unknown keys are errors, numbers finite (an `inf` read from YAML would
    pass `ge=0` and then break every sum it enters: a fuzzer's find)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)
