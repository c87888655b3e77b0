"""Build a StrategySpec from command-line flags (shared by `predict`, `compare-sp`, `smoke`).

A missing --dp is derived from the GPU count; every other rule is the spec's own validation,
reported as a one-line SpecError naming the flag.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import typer
from pydantic import ValidationError

from parplan.errors import SpecError
from parplan.specs import StackSpec, StrategySpec, format_validation_error, load_strategy


def _stack_default(field: str) -> str:
    """StackSpec's default of `field` as `--help` shows it (None: the workload's precision)."""
    value = StackSpec.model_fields[field].default
    if isinstance(value, bool):
        return "on" if value else "off"
    return "the workload's" if value is None else str(value)


def _stack_option(field: str, flags: str, help_text: str) -> Any:
    """A stack flag: left out (None), the strategy's `stack` default applies, shown in --help."""
    return typer.Option(None, flags, help=help_text, show_default=_stack_default(field))


# StrategySpec.stack fields -> (annotation, option); every command that costs a layout takes them
STACK_OPTIONS: dict[str, tuple[Any, Any]] = {
    field: (kind, _stack_option(field, flags, help_text))
    for field, kind, flags, help_text in [
        ("attention", str | None, "--attention",
         "Attention kernel: flash2 (FlashAttention-2, PyTorch SDPA), flash3, cudnn (Transformer "
         "Engine on Hopper), or unfused (s x s scores in HBM; no ring attention)."),
        ("attention_dropout", bool | None, "--attention-dropout/--no-attention-dropout",
         "Unfused attention with dropout on the scores."),
        ("tp_comm_overlap", bool | None, "--tp-comm-overlap/--no-tp-comm-overlap",
         "Overlap Megatron-SP all-gather/reduce-scatter with GEMMs (Megatron-Core "
         "--tp-comm-overlap)."),
        ("elementwise", str | None, "--elementwise",
         "Norms, modulation, activations: eager (one PyTorch kernel per op) or fused "
         "(torch.compile, Transformer Engine, apex)."),
        ("text_encoder_precision", str | None, "--text-encoder-precision",
         "Precision of the online text encoder (bf16|fp16|fp8|fp32)."),
        ("zero_impl", str | None, "--zero-impl",
         "Who issues the DP/ZeRO collectives, i.e. how many calls a step makes: megatron "
         "(parameter buckets of max(4e7, 1e6*dp)), fsdp (one per block; DDP 25 MiB buckets), "
         "deepspeed (ZeRO-3: one gather per submodule; 5e8-element buckets)."),
    ]
}  # fmt: skip
STACK_FLAGS = tuple(STACK_OPTIONS)


def stack_parameters() -> list[inspect.Parameter]:
    """The stack options as keyword-only parameters (for generated Typer signatures)."""
    return [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
        for name, (kind, option) in STACK_OPTIONS.items()
    ]


def with_stack_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a Typer command every stack flag; it receives them as `stack_flags` (a dict of the
    given ones, None for flags left out), so that no command can miss one."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values()
           if p.name != "stack_flags"]  # fmt: skip

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        stack_flags = {name: kwargs.pop(name) for name in STACK_OPTIONS}
        return command(**kwargs, stack_flags=stack_flags)

    signature = inspect.Signature([*own, *stack_parameters()])
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    return wrapper


def stack_from_flags(**flags: Any) -> StackSpec:
    """`strategy.stack` from the stack flags (STACK_FLAGS)."""
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return StackSpec.model_validate(given)
    except ValidationError as err:
        raise SpecError(format_validation_error("stack flags", StackSpec, err)) from None


def reject_stack_flags(flags: dict[str, Any], *, why: str) -> None:
    """Stack flags where nothing is costed layer by layer are an error, not silently dropped."""
    for name in STACK_FLAGS:
        if flags.get(name) is not None:
            raise SpecError(f"--{name.replace('_', '-')} does not apply {why}")


def _positive_int(value: Any) -> bool:
    """A degree dp can be derived from; anything else is the spec validation's to report."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


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
    degrees = [merged.get(k, 1) for k in ("tp", "sp", "pp")]
    if "dp" not in merged and gpus is not None and all(_positive_int(d) for d in degrees):
        merged["dp"] = derive_dp(
            gpus=gpus, tp=merged.get("tp", 1), sp=merged.get("sp", 1), pp=merged.get("pp", 1)
        )
    try:
        return StrategySpec.model_validate(merged)
    except ValidationError as err:
        raise SpecError(format_validation_error("strategy flags", StrategySpec, err)) from None
