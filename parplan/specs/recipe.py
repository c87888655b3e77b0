"""Recipe specs (docs/recipes.md): a training run as a list of stages, each a workload or a mix of
resolution x frames buckets, trained for a number of samples or iterations, optionally on its own
GPU count, model, parallel constraints and stack (parplan extension of SPEC_FORMAT.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from parplan.specs.base import CkptMode, NonNegInt, ParallelDim, PosFloat, PosInt, Precision, Spec
from parplan.specs.strategy import SpMethod, StackSpec

WEIGHT_TOLERANCE = 1e-6
# one block group's checkpointing: a mode, or blocks per mode in block order ({full: 8, none: 11}
# checkpoints the group's first 8 blocks, as Open-Sora 2.0's grad_ckpt_settings do)
GroupCkpt = CkptMode | dict[CkptMode, NonNegInt]


class BucketSpec(Spec):
    """One resolution x frames bucket: its share of the stage's samples and, as Open-Sora's
    `bucket_config` gives it, the micro-batch each DP rank takes from it."""

    name: str | None = None
    height: PosInt
    width: PosInt
    frames: PosInt = 1
    weight: Annotated[float, Field(ge=0, le=1)]  # share of the stage's samples
    micro_batch: PosInt | None = None  # samples per DP rank per step (no accumulation)

    @property
    def label(self) -> str:
        return self.name or f"{self.height}x{self.width}x{self.frames}f"


class ParallelSpec(Spec):
    """Layout constraints of a stage. With tp, sp, pp, zero and ckpt all given the layout is fixed
    (dp = GPUs / (tp sp pp)) and each bucket is predicted as published; otherwise the planner
    searches the layouts that keep every given key."""

    dp: PosInt | None = None
    tp: PosInt | None = None
    sp: PosInt | None = None
    pp: PosInt | None = None
    vpp: PosInt | None = None
    sp_method: SpMethod | None = None
    ulysses: PosInt | None = None
    ring: PosInt | None = None
    zero: Literal[0, 1, 2, 3] | None = None
    ckpt: CkptMode | list[GroupCkpt] | None = None  # a mode, or one entry per block group
    order: list[ParallelDim] | None = None
    micro_batch: PosInt | None = None  # a workload stage's (a bucket carries its own)

    @property
    def fixed(self) -> bool:
        return None not in (self.tp, self.sp, self.pp, self.zero, self.ckpt)

    def given(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True)


class StageSpec(Spec):
    name: str
    model: str | None = None  # preset or file; default: the recipe's
    workload: str | None = None  # preset or file (one shape), or:
    buckets: list[BucketSpec] | None = None
    samples: PosFloat | None = None
    iterations: PosFloat | None = None
    gpus: PosInt | None = None  # default: --gpus, or sized for --deadline-days
    global_batch: PosInt | None = None  # samples per step where the planner picks the layout
    parallel: ParallelSpec = Field(default_factory=ParallelSpec)
    stack: StackSpec | None = None
    precision: Precision | None = None
    online_encoding: list[Literal["vae", "text"]] | None = None
    # per_rank: each DP rank draws its own bucket every step (Open-Sora's sampler), so a step
    # waits for the slowest rank; per_step: the whole step comes from one bucket
    bucket_draw: Literal["per_rank", "per_step"] | None = None
    source: list[str] = Field(default_factory=list)


class RecipeSpec(Spec):
    name: str
    model: str | None = None
    precision: Precision = "bf16"
    online_encoding: list[Literal["vae", "text"]] = Field(default_factory=list)
    stack: StackSpec | None = None
    source: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    stages: list[StageSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> RecipeSpec:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must differ: {names}")
        for stage in self.stages:
            _check_stage(stage, has_model=self.model is not None)
        return self


def _check_stage(stage: StageSpec, *, has_model: bool) -> None:
    where = f"stage '{stage.name}'"
    if not has_model and stage.model is None:
        raise ValueError(f"{where}: no model (give model: at the top or in the stage)")
    if (stage.workload is None) == (stage.buckets is None):
        raise ValueError(f"{where}: give exactly one of workload and buckets")
    if (stage.samples is None) == (stage.iterations is None):
        raise ValueError(f"{where}: give exactly one of samples and iterations")
    if stage.buckets is not None:
        _check_buckets(stage, where)
        if stage.parallel.micro_batch is not None:
            raise ValueError(f"{where}: give micro_batch per bucket, not in parallel")
    elif stage.bucket_draw is not None:
        raise ValueError(f"{where}: bucket_draw applies to buckets, not to a workload")
    elif stage.parallel.fixed and stage.parallel.micro_batch is None:
        raise ValueError(f"{where}: a fixed layout (tp, sp, pp, zero, ckpt) needs parallel.micro_batch")


def _check_buckets(stage: StageSpec, where: str) -> None:
    buckets = stage.buckets or []
    if not buckets:
        raise ValueError(f"{where}: buckets is empty")
    total = sum(b.weight for b in buckets)
    if abs(total - 1) > WEIGHT_TOLERANCE:
        weights = " + ".join(f"{b.weight:g}" for b in buckets)
        raise ValueError(f"{where}: bucket weights sum to {weights} = {total:.6g}; they must sum to 1")
    labels = [b.label for b in buckets]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{where}: bucket names must differ: {labels}")
    given = {b.micro_batch is not None for b in buckets}
    if given == {True, False}:
        raise ValueError(f"{where}: give micro_batch for every bucket or for none")
    if True in given and not stage.parallel.fixed:
        raise ValueError(
            f"{where}: per-bucket micro_batch needs a fixed layout: parallel.tp, sp, pp, zero "
            "and ckpt (or drop micro_batch and give global_batch: the planner then picks)"
        )
    if True not in given and stage.parallel.fixed:
        raise ValueError(f"{where}: a fixed layout (tp, sp, pp, zero, ckpt) needs each bucket's micro_batch")
    if True not in given and stage.global_batch is None:
        raise ValueError(f"{where}: give global_batch (samples per step) or each bucket's micro_batch")
    if True not in given and stage.bucket_draw == "per_rank":
        raise ValueError(f"{where}: bucket_draw per_rank needs each bucket's micro_batch")
