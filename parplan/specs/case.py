"""Validation cases (SPEC_FORMAT.md "Validation case"): a published run and what it measured."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from parplan.specs.base import (
    PosFloat,
    PosInt,
    Spec,
)
from parplan.specs.cluster import ClusterSpec
from parplan.specs.model import ModelSpec, WorkloadSpec
from parplan.specs.strategy import StrategySpec


class MeasuredSpec(Spec):
    step_time_s: PosFloat | None = None
    tokens_per_s_per_gpu: PosFloat | None = None
    samples_per_s_per_gpu: PosFloat | None = None
    tflops_per_gpu: PosFloat | None = None
    flops_convention: str | None = None
    peak_memory_gib: PosFloat | None = None


class ValidationCase(Spec):
    id: str
    source: str
    model: ModelSpec | str
    workload: WorkloadSpec | str
    cluster: ClusterSpec | str
    num_gpus: PosInt | None = None
    strategy: StrategySpec
    measured: MeasuredSpec
    tolerance: PosFloat = 0.15
    notes: list[str] = Field(default_factory=list)
    confidence: Literal["high", "medium", "low"] | None = None
