"""Typed specs for models, workloads, clusters, strategies and validation cases.

The YAML contract is ../shared/SPEC_FORMAT.md; every spec is frozen and forbids unknown keys, so
a typo is an error, never a silent default. Human units appear only in keys that spell them
(`memory_gib`, `gbit_per_s_per_nic`); the `*_bytes`, `*_per_s` properties convert to SI once.
`load_*` accept a preset name or a YAML path and turn every failure into a one-line `SpecError`.
This package imports nothing else of parplan's but `parplan.errors`; everything imports it.
"""

from __future__ import annotations

from parplan.specs.base import (
    ACTIVATION_BYTES,
    ATTENTION_PRECISION,
    ELEMENT_BYTES,
    GB,
    GIB,
    AttentionKernel,
    BlockType,
    CkptMode,
    NonNegFloat,
    NonNegInt,
    ParallelDim,
    PosFloat,
    PosInt,
    Precision,
    Spec,
    SpMethod,
    ceil_div,
)
from parplan.specs.case import (
    MeasuredSpec,
    ValidationCase,
)
from parplan.specs.cluster import (
    ClusterSpec,
    EfficiencySpec,
    GpuSpec,
    InterNodeSpec,
    IntraNodeSpec,
    ReliabilitySpec,
)
from parplan.specs.loading import (
    PACKAGE_DIR,
    PRESET_DIR,
    cluster_dirs,
    cluster_presets,
    format_validation_error,
    load_cluster,
    load_model,
    load_recipe,
    load_spec,
    load_strategy,
    load_validation_cases,
    load_workload,
    model_presets,
    parse_spec,
    read_yaml,
    recipe_presets,
    spec_file,
    user_calibration,
    user_dir,
    workload_presets,
)
from parplan.specs.model import (
    BlockGroup,
    ModelSpec,
    TextEncoderSpec,
    VaeSpec,
    WorkloadSpec,
)
from parplan.specs.recipe import (
    BucketSpec,
    ParallelSpec,
    RecipeSpec,
    StageSpec,
)
from parplan.specs.strategy import (
    StackSpec,
    StrategySpec,
    check_degrees,
)

__all__ = [
    "ACTIVATION_BYTES",
    "ATTENTION_PRECISION",
    "AttentionKernel",
    "BlockGroup",
    "BlockType",
    "BucketSpec",
    "CkptMode",
    "ClusterSpec",
    "ELEMENT_BYTES",
    "EfficiencySpec",
    "GB",
    "GIB",
    "GpuSpec",
    "InterNodeSpec",
    "IntraNodeSpec",
    "MeasuredSpec",
    "ModelSpec",
    "NonNegFloat",
    "NonNegInt",
    "PACKAGE_DIR",
    "ParallelSpec",
    "PRESET_DIR",
    "ParallelDim",
    "PosFloat",
    "PosInt",
    "Precision",
    "RecipeSpec",
    "ReliabilitySpec",
    "SpMethod",
    "Spec",
    "StackSpec",
    "StageSpec",
    "StrategySpec",
    "TextEncoderSpec",
    "VaeSpec",
    "ValidationCase",
    "WorkloadSpec",
    "ceil_div",
    "check_degrees",
    "cluster_dirs",
    "cluster_presets",
    "format_validation_error",
    "load_cluster",
    "load_model",
    "load_recipe",
    "load_spec",
    "load_strategy",
    "load_validation_cases",
    "load_workload",
    "model_presets",
    "parse_spec",
    "read_yaml",
    "recipe_presets",
    "spec_file",
    "user_calibration",
    "user_dir",
    "workload_presets",
]
