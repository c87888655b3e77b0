"""Typed specs for models, workloads, clusters, strategies and validation cases.

The YAML contract is ../shared/SPEC_FORMAT.md; every model here is frozen and forbids unknown
keys, so a typo is an error, never a silent default. Human units appear only in keys that spell
them (`memory_gib`, `gbit_per_s_per_nic`); the `*_bytes`, `*_per_s` properties convert to SI once.
`load_*` accept a preset name or a YAML path and turn every failure into a one-line `SpecError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from parplan.errors import SpecError

GIB = 1024**3
GB = 1e9

PACKAGE_DIR = Path(__file__).resolve().parent
PRESET_DIR = PACKAGE_DIR / "presets"
CLUSTER_DIRS = (PACKAGE_DIR.parent / "cluster_specs", Path.cwd() / "cluster_specs")

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
    """Base: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------------- model


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


# -------------------------------------------------------------------------------- workload


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


# --------------------------------------------------------------------------------- cluster


class GpuSpec(Spec):
    name: str
    peak_tflops: dict[Literal["bf16", "fp16", "fp8", "fp32", "tf32"], PosFloat]
    memory_gib: PosFloat
    hbm_gbyte_per_s: PosFloat

    @property
    def memory_bytes(self) -> float:
        return self.memory_gib * GIB

    @property
    def hbm_bytes_per_s(self) -> float:
        return self.hbm_gbyte_per_s * GB

    def peak_flop_per_s(self, precision: str) -> float:
        """Dense peak for `precision`; fp16 falls back to bf16 (same tensor-core rate)."""
        table = dict(self.peak_tflops)
        if precision == "fp16" and "fp16" not in table and "bf16" in table:
            precision = "bf16"
        if precision not in table:
            raise SpecError(
                f"gpu.peak_tflops has no '{precision}' entry (has: {', '.join(sorted(table))}); "
                f"add peak_tflops.{precision}"
            )
        return table[precision] * 1e12


class IntraNodeSpec(Spec):
    fabric: Literal["nvswitch", "nvlink", "pcie", "loopback"] = "nvswitch"
    gbyte_per_s_per_gpu: PosFloat
    latency_us: NonNegFloat = 2.0

    @property
    def bytes_per_s(self) -> float:
        return self.gbyte_per_s_per_gpu * GB

    @property
    def latency_s(self) -> float:
        return self.latency_us * 1e-6


class InterNodeSpec(Spec):
    nics_per_node: PosInt
    gbit_per_s_per_nic: PosFloat
    latency_us: NonNegFloat = 5.0
    topology: Literal["rail_optimized", "fat_tree"] = "rail_optimized"
    oversubscription: Annotated[float, Field(ge=1.0)] = 1.0
    nodes_per_leaf: PosInt | None = None

    @property
    def nic_bytes_per_s(self) -> float:
        return self.gbit_per_s_per_nic * 1e9 / 8

    @property
    def latency_s(self) -> float:
        return self.latency_us * 1e-6


class EfficiencySpec(Spec):
    """Achieved fractions of peak for this hardware (docs/cost_model.md). Written by calibrate."""

    gemm_max: Annotated[float, Field(gt=0, le=1)] | None = None
    attention_max: Annotated[float, Field(gt=0, le=1)] | None = None
    hbm: Annotated[float, Field(gt=0, le=1)] | None = None
    kernel_overhead_us: NonNegFloat | None = None
    collective_bus: Annotated[float, Field(gt=0, le=1)] | None = None


class ClusterSpec(Spec):
    name: str
    gpu: GpuSpec
    gpus_per_node: PosInt
    nodes: PosInt
    intra_node: IntraNodeSpec
    inter_node: InterNodeSpec
    efficiency: EfficiencySpec | None = None
    source: list[str] = Field(default_factory=list)

    @property
    def num_gpus(self) -> int:
        return self.gpus_per_node * self.nodes


# -------------------------------------------------------------------------------- strategy


class StackSpec(Spec):
    """How the training code executes the layout where that changes the cost (SPEC_FORMAT.md,
    `strategy.stack`). The defaults describe plain PyTorch: FlashAttention-2 (SDPA's flash
    backend), eager elementwise kernels, no TP overlap; the planner keeps what the user gives."""

    # flash2 | flash3 | cudnn: fused attention, the s x s scores never reach HBM
    # (FlashAttention-2 / PyTorch SDPA, FlashAttention-3, cuDNN fused attention as Transformer
    # Engine picks it on Hopper); unfused: QK^T and AV as batched GEMMs with softmax (and
    # dropout) passes over the s x s scores in HBM (Megatron-LM CoreAttention before
    # FlashAttention, PyTorch's math path).
    attention: AttentionKernel = "flash2"
    attention_dropout: bool = False  # unfused only: dropout on the scores (Megatron GPT: 0.1)
    tp_comm_overlap: bool = False  # Megatron-Core --tp-comm-overlap (TE userbuffers)
    # eager: one PyTorch kernel per op; fused: torch.compile / Transformer Engine / apex
    elementwise: Literal["eager", "fused"] = "eager"
    # online text encoder's precision; None: the workload's (Open-Sora v1.0/1.1 run T5 in fp32)
    text_encoder_precision: Precision | None = None

    @property
    def fused_attention(self) -> bool:
        """Scores stay on chip (every kernel but `unfused`): ring attention can run blockwise."""
        return self.attention != "unfused"

    @model_validator(mode="after")
    def _check(self) -> StackSpec:
        if self.attention_dropout and self.fused_attention:
            raise ValueError(
                "attention_dropout adds passes over stored scores; it needs attention: unfused "
                f"({self.attention} fuses dropout into the kernel)"
            )
        return self


class StrategySpec(Spec):
    dp: PosInt = 1
    tp: PosInt = 1
    pp: PosInt = 1
    vpp: PosInt = 1
    sp: PosInt = 1
    sp_method: SpMethod = "none"
    # extension (docs/spec_extensions.md): an SP method per block type; None = sp_method everywhere
    sp_methods: dict[BlockType, SpMethod] | None = None
    ulysses: PosInt = 1
    ring: PosInt = 1
    megatron_sp: bool = False
    zero: Literal[0, 1, 2, 3] = 0
    ckpt: CkptMode | list[CkptMode] = "none"
    micro_batch: PosInt = 1
    global_batch: PosInt | None = None
    order: list[ParallelDim] = Field(default_factory=lambda: ["tp", "sp", "dp", "pp"])
    stack: StackSpec = Field(default_factory=StackSpec)

    @model_validator(mode="after")
    def _check_shape(self) -> StrategySpec:
        if sorted(self.order) != ["dp", "pp", "sp", "tp"]:
            raise ValueError(f"order={self.order} must be a permutation of [tp, sp, dp, pp]")
        if self.sp > 1 and self.sp_method == "none":
            raise ValueError(f"sp={self.sp} needs sp_method (ulysses|ring|fastseq|usp|dsp)")
        if self.sp == 1 and self.sp_method not in ("none",):
            # sp_method with sp=1 is harmless but meaningless; normalise by rejecting.
            raise ValueError(f"sp_method={self.sp_method} needs sp > 1 (or sp_method: none)")
        _check_sp_methods(self)
        if "usp" in self.methods_used and self.ulysses * self.ring != self.sp:
            raise ValueError(
                f"ulysses*ring = {self.ulysses}*{self.ring} = {self.ulysses * self.ring}, "
                f"but sp = {self.sp}"
            )
        ring_methods = {"ring"} | ({"usp"} if self.ring > 1 else set())
        if self.stack.attention == "unfused" and ring_methods & self.methods_used:
            used = sorted(ring_methods & self.methods_used)
            raise ValueError(
                f"SP method(s) {used} run ring attention, which is blockwise (flash) attention; "
                "use a fused stack.attention (flash2|flash3|cudnn), or ulysses/fastseq/dsp"
            )
        if self.megatron_sp and self.tp == 1:
            raise ValueError("megatron_sp=true needs tp > 1 (it shards TP's norms and dropout)")
        if "usp" not in self.methods_used and (self.ulysses, self.ring) != (1, 1):
            raise ValueError("ulysses/ring degrees are only for sp_method=usp")
        if self.global_batch is not None and self.global_batch % (self.dp * self.micro_batch):
            raise ValueError(
                f"dp*micro_batch = {self.dp}*{self.micro_batch} = {self.dp * self.micro_batch} "
                f"must divide global_batch = {self.global_batch}"
            )
        return self

    @property
    def world_size(self) -> int:
        return self.dp * self.tp * self.pp * self.sp

    @property
    def methods_used(self) -> set[str]:
        """sp_method and every per-block-type method of `sp_methods`."""
        return {self.sp_method, *(self.sp_methods or {}).values()}

    @property
    def ulysses_degree(self) -> int:
        """Ulysses part of SP (the whole SP for ulysses/fastseq/dsp, the inner axis for usp)."""
        if self.sp_method == "usp":
            return self.ulysses
        return self.sp if self.sp_method in ("ulysses", "fastseq", "dsp") else 1

    @property
    def ring_degree(self) -> int:
        if self.sp_method == "usp":
            return self.ring
        return self.sp if self.sp_method == "ring" else 1

    def ckpt_for(self, block_index: int) -> CkptMode:
        if isinstance(self.ckpt, str):
            return self.ckpt
        return self.ckpt[block_index]


def _check_sp_methods(s: StrategySpec) -> None:
    """`sp_methods` names real SP methods and needs SP; model-dependent rules (block types the
    model has, divisibility per type) are checked in layout.py against the model."""
    for block_type, method in (s.sp_methods or {}).items():
        if method == "none":
            raise ValueError(
                f"sp_methods.{block_type}=none: give an SP method (ulysses|ring|fastseq|usp|dsp) "
                "or leave the type out to use sp_method"
            )
        if s.sp == 1:
            raise ValueError(f"sp_methods.{block_type}={method} needs sp > 1 (or drop sp_methods)")


# ------------------------------------------------------------------------ validation case


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


# --------------------------------------------------------------------------------- loading

S = TypeVar("S", bound=Spec)


def _walk_model(cls: type[BaseModel] | None, loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that sits at `loc` inside `cls` (for listing allowed keys)."""
    for part in loc:
        if cls is None or isinstance(part, int):
            continue
        field = cls.model_fields.get(str(part))
        if field is None:
            return cls
        cls = _first_model(field.annotation)
    return cls


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def format_validation_error(where: str, cls: type[BaseModel], err: ValidationError) -> str:
    """One line: `where: key.path=value problem` (plus how many more problems there are)."""
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    # drop pydantic's union-branch tags such as "literal['none','full']" or "list[...]"
    loc = tuple(p for p in first.get("loc", ()) if not (isinstance(p, str) and "[" in p))
    path = ".".join(str(p) for p in loc) or "<top level>"
    value = first.get("input")
    if first["type"] == "extra_forbidden":
        parent = _walk_model(cls, loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else "see SPEC_FORMAT.md"
        msg = f"{where}: unknown key '{path}'; allowed here: {allowed}"
    elif first["type"] == "missing":
        msg = f"{where}: missing required key '{path}'"
    else:
        shown = _short(value)
        text = first["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        msg = f"{where}: {path}={shown} {text}" if loc else f"{where}: {text}"
    more = len(err.errors()) - 1
    return msg + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_spec(cls: type[S], data: Any, where: str) -> S:
    """Validate `data` as `cls`, turning pydantic's report into one SpecError line."""
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return cls.model_validate(dict(data))
    except ValidationError as err:
        raise SpecError(format_validation_error(where, cls, err)) from None


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise SpecError(f"{where}: YAML syntax error: {problem}") from None


def _preset_names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml")) if directory.is_dir() else []


def _resolve(source: str | Path, kind: str, dirs: tuple[Path, ...]) -> Path:
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise SpecError(f"{path}: file not found")
        return path
    for directory in dirs:
        candidate = directory / f"{source}.yaml"
        if candidate.exists():
            return candidate
    names = sorted({n for d in dirs for n in _preset_names(d)})
    raise SpecError(
        f"--{kind} {source!r}: no such preset or file; presets: {', '.join(names) or 'none'}"
    )


def load_spec(cls: type[S], source: str | Path | Mapping | S, kind: str, dirs: tuple[Path, ...]) -> S:
    if isinstance(source, cls):
        return source
    if isinstance(source, Mapping):
        return parse_spec(cls, source, f"{kind} spec")
    path = _resolve(source, kind, dirs)
    return parse_spec(cls, read_yaml(path), str(path))


def load_model(source: str | Path | Mapping | ModelSpec) -> ModelSpec:
    return load_spec(ModelSpec, source, "model", (PRESET_DIR / "models",))


def load_workload(source: str | Path | Mapping | WorkloadSpec) -> WorkloadSpec:
    return load_spec(WorkloadSpec, source, "workload", (PRESET_DIR / "workloads",))


def load_cluster(source: str | Path | Mapping | ClusterSpec) -> ClusterSpec:
    return load_spec(ClusterSpec, source, "cluster", CLUSTER_DIRS)


def load_strategy(source: str | Path | Mapping | StrategySpec) -> StrategySpec:
    return load_spec(StrategySpec, source, "strategy", ())


def load_validation_cases(path: str | Path) -> list[ValidationCase]:
    data = read_yaml(Path(path))
    if not isinstance(data, list):
        raise SpecError(f"{path}: expected a YAML list of validation cases")
    return [parse_spec(ValidationCase, case, f"{path}[{i}]") for i, case in enumerate(data)]


def model_presets() -> list[str]:
    return _preset_names(PRESET_DIR / "models")


def workload_presets() -> list[str]:
    return _preset_names(PRESET_DIR / "workloads")


def cluster_presets() -> list[str]:
    return sorted({n for d in CLUSTER_DIRS for n in _preset_names(d)})


def check_degrees(strategy: StrategySpec, num_gpus: int) -> None:
    """Degrees must multiply to the GPU count; print every factor when they don't."""
    s = strategy
    if s.world_size != num_gpus:
        raise SpecError(
            f"dp*tp*sp*pp = {s.dp}*{s.tp}*{s.sp}*{s.pp} = {s.world_size}, "
            f"but the run has {num_gpus} GPUs"
        )


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


__all__ = [
    "GIB",
    "ACTIVATION_BYTES",
    "ATTENTION_PRECISION",
    "ELEMENT_BYTES",
    "BlockGroup",
    "ClusterSpec",
    "ModelSpec",
    "StrategySpec",
    "ValidationCase",
    "WorkloadSpec",
    "SpecError",
    "check_degrees",
    "load_cluster",
    "load_model",
    "load_strategy",
    "load_validation_cases",
    "load_workload",
]
