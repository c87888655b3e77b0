"""What one smoke run is: the layout, the small model and the run limits, checked before spawning.

No torch here: `parplan smoke` must reject bad flags (exit 2) before any process starts, and the
prediction side (`parplan.smoke.prediction`) needs the same specs without importing torch.
The smoke model is sized by flags; `to_specs` turns it into the ModelSpec / WorkloadSpec /
StrategySpec the cost model reads (a workload whose geometry gives exactly `tokens` tokens).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from parplan.errors import SpecError
from parplan.specs import (
    BlockGroup,
    ModelSpec,
    StrategySpec,
    VaeSpec,
    WorkloadSpec,
    load_model,
    parse_spec,
)

SmokeBlock = Literal["full", "spatial", "temporal"]
FULL_ONLY = ("ring", "usp")  # the ring kernels attend over the whole (sharded) sequence
IN_CHANNELS = 4  # latent channels in and out (patch 1)
# parplan.model.params extras that count the smoke model exactly (docs/spec_extensions.md): no timestep
# MLP, no label table, text already at width d, final Linear(d, C) (no learn-sigma doubling).
SMOKE_EXTRAS = {
    "timestep_mlp": False,
    "label_classes": 0,
    "caption_projection": "none",
    "out_channels": IN_CHANNELS,
}


class SmokeConfig(BaseModel):
    """Everything a smoke run needs; rank processes receive it pickled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nproc: int = Field(4, gt=0)
    backend: Literal["gloo", "nccl"] = "gloo"
    strategy: StrategySpec = StrategySpec()
    blocks: tuple[SmokeBlock, ...] = ("full", "full")
    # Default size: big enough that a step is GEMM and attention work, not per-op and per-call
    # overheads, so the time check is meaningful (docs/smoke.md "Step time"); the byte and
    # numerics tests pass a tiny size explicitly (tests/test_smoke_distributed.py).
    hidden: int = Field(256, gt=0)
    heads: int = Field(4, gt=0)
    tokens: int = Field(2048, gt=0)  # per sample: frames * tokens_per_frame
    frames: int = Field(1, gt=0)
    cross_attention: bool = False
    text_tokens: int = Field(16, ge=0)
    steps: int = Field(3, gt=0)
    timeout_s: float = Field(120.0, gt=0)
    seed: int = 0
    cluster: str | None = None  # cluster spec name/file for the time prediction
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # what the cost model prices
    name: str = "smoke-tiny"
    # Test hook: this rank fails at step 1 ("raise": an exception; "kill": SIGKILL itself).
    fail_rank: int | None = None
    fail_mode: Literal["raise", "kill"] = "raise"

    @property
    def tokens_per_frame(self) -> int:
        return self.tokens // self.frames

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


def blocks_from_model(model: ModelSpec) -> tuple[SmokeBlock, ...]:
    """Expand a ModelSpec's block groups; the smoke model builds full/spatial/temporal only."""
    out: list[SmokeBlock] = []
    for group in model.blocks:
        if group.type not in ("full", "spatial", "temporal"):
            raise SpecError(
                f"model {model.name!r}: block type {group.type!r} is not built by smoke "
                "(allowed: full, spatial, temporal)"
            )
        out.extend([group.type] * group.count)  # type: ignore[list-item]
    return tuple(out)


def model_fields_from_file(source: str | Path) -> dict:
    """SmokeConfig fields (blocks, hidden, heads, cross-attention) from a model YAML."""
    return model_fields(load_model(source))


def model_fields(model: ModelSpec) -> dict:
    """SmokeConfig fields of a model spec; SpecError for what the smoke blocks cannot build."""
    if model.head_dim is not None and model.head_dim * model.heads != model.hidden:
        raise SpecError(f"model {model.name!r}: smoke needs head_dim*heads == hidden")
    if model.kv_heads not in (None, model.heads) or model.mlp != "gelu":
        raise SpecError(f"model {model.name!r}: smoke builds MHA + GELU MLP blocks only")
    return {
        "name": model.name,
        "blocks": blocks_from_model(model),
        "hidden": model.hidden,
        "heads": model.heads,
        "cross_attention": model.cross_attention,
        "text_tokens": model.text_tokens or 16,
    }


def build_strategy(**fields: object) -> StrategySpec:
    """StrategySpec from CLI flags, with pydantic's complaint turned into one SpecError line."""
    return parse_spec(StrategySpec, fields, "smoke strategy flags")


def to_specs(cfg: SmokeConfig) -> tuple[ModelSpec, WorkloadSpec, StrategySpec]:
    """The cost model's view of this run: tokens = frames x (1 x tokens_per_frame), patch 1."""
    groups = [BlockGroup(type=b, count=1) for b in cfg.blocks]
    model = ModelSpec(
        name=cfg.name,
        hidden=cfg.hidden,
        heads=cfg.heads,
        blocks=groups,
        cross_attention=cfg.cross_attention,
        text_tokens=cfg.text_tokens if cfg.cross_attention else 0,
        patch=(1, 1, 1),
        in_channels=IN_CHANNELS,
        vae=VaeSpec(temporal=1, spatial=1, causal=False),
        extras=SMOKE_EXTRAS,
    )
    s = cfg.strategy
    workload = WorkloadSpec(
        name=f"{cfg.name}-workload",
        kind="video" if cfg.frames > 1 else "image",
        frames=cfg.frames,
        height=1,
        width=cfg.tokens_per_frame,
        vae=VaeSpec(temporal=1, spatial=1, causal=False),
        global_batch=s.dp * s.micro_batch,
        precision=cfg.precision,
    )
    strategy = s.model_copy(update={"global_batch": s.dp * s.micro_batch})
    return model, workload, strategy


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SpecError(message)


def validate(cfg: SmokeConfig, *, who: str = "smoke", zero_stages: tuple[int, ...] = (0, 2)) -> None:
    """Every constraint a run needs, checked before any process starts (SpecError → exit 2).
    `who` runs it; `zero_stages`: what its gradient code implements (smoke's GradSync: 0, 2)."""
    s = cfg.strategy
    _check(
        s.world_size == cfg.nproc,
        f"dp*tp*sp*pp = {s.dp}*{s.tp}*{s.sp}*{s.pp} = {s.world_size}, but --nproc is {cfg.nproc}",
    )
    _check(s.pp == 1, f"pp={s.pp}: {who} runs no pipeline parallelism (pp must be 1)")
    _check(cfg.hidden % cfg.heads == 0, f"heads={cfg.heads} must divide hidden={cfg.hidden}")
    _check(cfg.tokens % cfg.frames == 0, f"frames={cfg.frames} must divide tokens={cfg.tokens}")
    *rest, last = map(str, zero_stages)
    stages = f"{', '.join(rest)} and {last}" if rest else last
    _check(s.zero in zero_stages, f"zero={s.zero}: {who} implements zero {stages} only")
    _check(
        not (s.tp > 1 and s.sp > 1),
        f"tp={s.tp} with sp={s.sp}: {who} runs TP or SP in one layout, not both",
    )
    _check(not s.megatron_sp or s.tp > 1, "--megatron-sp needs tp > 1")
    _check(not s.sp_methods, f"sp_methods={s.sp_methods}: {who} runs one SP method in all blocks")
    if s.tp > 1:
        _check_tp(cfg)
    if s.sp > 1:
        _check_sp(cfg)
    if cfg.fail_rank is not None:
        _check(0 <= cfg.fail_rank < cfg.nproc, f"fail_rank={cfg.fail_rank} is not a rank")


def _check_tp(cfg: SmokeConfig) -> None:
    t = cfg.strategy.tp
    _check(cfg.heads % t == 0, f"tp={t} must divide heads={cfg.heads}")
    if cfg.strategy.megatron_sp:
        _check(cfg.tokens % t == 0, f"tp={t} (megatron-sp) must divide tokens={cfg.tokens}")


def _check_sp(cfg: SmokeConfig) -> None:
    s = cfg.strategy
    method = s.sp_method
    _check(cfg.tokens % s.sp == 0, f"sp={s.sp} must divide tokens={cfg.tokens}")
    if s.ulysses_degree > 1 and method != "dsp":
        u = s.ulysses_degree
        _check(cfg.heads % u == 0, f"{method} degree {u} must divide heads={cfg.heads}")
    if method in FULL_ONLY:
        bad = sorted({b for b in cfg.blocks if b != "full"})
        _check(not bad, f"sp_method={method} runs full-attention blocks only, got {bad}")
    if method == "dsp":
        _check_dsp(cfg)


def _check_dsp(cfg: SmokeConfig) -> None:
    p = cfg.strategy.sp
    bad = sorted({b for b in cfg.blocks if b == "full"})
    _check(not bad, "sp_method=dsp needs spatial/temporal blocks (no full blocks)")
    _check(cfg.frames % p == 0, f"dsp: sp={p} must divide frames={cfg.frames}")
    _check(
        cfg.tokens_per_frame % p == 0,
        f"dsp: sp={p} must divide tokens per frame={cfg.tokens_per_frame}",
    )
