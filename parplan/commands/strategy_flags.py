"""Build a StrategySpec from command-line flags (shared by `predict`, `compare-sp`, `smoke`).

A missing --dp is derived from the GPU count; every other rule is the spec's own validation,
reported as a one-line SpecError naming the flag.
"""

from __future__ import annotations

import typer
from pydantic import ValidationError

from parplan.errors import SpecError
from parplan.specs import StackSpec, StrategySpec, format_validation_error, load_strategy

STACK_FLAGS = ("attention", "attention_dropout", "tp_comm_overlap", "elementwise", "text_encoder_precision")  # StrategySpec.stack fields
ATTENTION_OPT = typer.Option(
    None,
    "--attention",
    help="Attention kernel: flash2 (default: FlashAttention-2, PyTorch SDPA), flash3, cudnn "
    "(Transformer Engine on Hopper), or unfused (s x s scores in HBM; no ring attention).",
)
ATTENTION_DROPOUT_OPT = typer.Option(
    None, "--attention-dropout/--no-attention-dropout", help="Unfused attention with dropout on the scores."
)
TP_OVERLAP_OPT = typer.Option(
    None,
    "--tp-comm-overlap/--no-tp-comm-overlap",
    help="Overlap Megatron-SP all-gather/reduce-scatter with GEMMs (Megatron-Core --tp-comm-overlap).",
)
TEXT_ENCODER_PRECISION_OPT = typer.Option(
    None,
    "--text-encoder-precision",
    help="Precision of the online text encoder (bf16|fp16|fp8|fp32; default: the workload's).",
)


def stack_from_flags(**flags) -> StackSpec:
    """`strategy.stack` from the stack flags (STACK_FLAGS)."""
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return StackSpec.model_validate(given)
    except ValidationError as err:
        raise SpecError(format_validation_error("stack flags", StackSpec, err)) from None


def derive_dp(*, gpus: int, tp: int, sp: int, pp: int) -> int:
    inner = tp * sp * pp
    if gpus % inner:
        raise SpecError(
            f"--gpus {gpus} is not divisible by tp*sp*pp = {tp}*{sp}*{pp} = {inner}; "
            "choose degrees that divide the GPU count"
        )
    return gpus // inner


def parse_ckpt(text: str) -> str | list[str]:
    """`none|selective|full`, or a comma list with one mode per block group."""
    parts = [p.strip() for p in text.split(",")]
    return parts[0] if len(parts) == 1 else parts


def parse_sp_methods(text: str) -> dict[str, str]:
    """`spatial=ulysses,temporal=ring`: an SP method per block type (StrategySpec.sp_methods)."""
    methods: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        block_type, eq, method = part.partition("=")
        if not eq or not block_type.strip() or not method.strip():
            raise SpecError(
                f"--sp-methods {text!r}: write type=method pairs, e.g. spatial=dsp,temporal=ulysses"
            )
        methods[block_type.strip()] = method.strip()
    return methods


def strategy_from_flags(*, gpus: int | None, strategy_file: str | None, **flags) -> StrategySpec:
    """Flags override the strategy file; `dp` defaults to gpus / (tp·sp·pp)."""
    base = load_strategy(strategy_file).model_dump() if strategy_file else {}
    given = {k: v for k, v in flags.items() if v is not None}
    if "ckpt" in given:
        given["ckpt"] = parse_ckpt(given["ckpt"])
    if "sp_methods" in given:
        given["sp_methods"] = parse_sp_methods(given["sp_methods"])
    if "order" in given:
        given["order"] = [p.strip() for p in given["order"].split(",")]
    stack = {k: given.pop(k) for k in STACK_FLAGS if k in given}
    merged = {**base, **given}
    if stack:
        merged["stack"] = {**merged.get("stack", {}), **stack}
    if "dp" not in merged and gpus is not None:
        merged["dp"] = derive_dp(
            gpus=gpus, tp=merged.get("tp", 1), sp=merged.get("sp", 1), pp=merged.get("pp", 1)
        )
    try:
        return StrategySpec.model_validate(merged)
    except ValidationError as err:
        raise SpecError(format_validation_error("strategy flags", StrategySpec, err)) from None
