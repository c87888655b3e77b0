"""Check a strategy against a model and workload, and derive the per-GPU shape of the run.

Every rule of ../shared/SPEC_FORMAT.md "Strategy" is enforced here with a one-line SpecError
that prints the factors: degrees multiply to the GPU count, TP and Ulysses divide the heads,
SP divides the tokens it splits, dp·micro_batch divides the global batch.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.errors import SpecError
from parplan.model.flops import BlockCost, ModelCost
from parplan.model.geometry import TokenGeometry
from parplan.specs import ModelSpec, StrategySpec, WorkloadSpec, ceil_div, check_degrees


class Layout(BaseModel):
    """Derived, validated facts about one strategy on one model/workload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_gpus: int
    global_batch: int
    microbatches: int  # gradient-accumulation steps: global_batch / (dp · micro_batch)
    stage_blocks: list[tuple[int, int]]  # (block group index, blocks on the slowest stage)
    element_bytes: int


def check_strategy(
    *, model: ModelSpec, geometry: TokenGeometry, strategy: StrategySpec, num_gpus: int
) -> None:
    s = strategy
    check_degrees(s, num_gpus)
    _check_heads(model, s)
    if s.sp_method == "dsp" and not _has_factorized_blocks(model):
        raise SpecError(
            f"sp_method=dsp needs spatial/temporal blocks; {model.name} has only "
            f"{', '.join(sorted({g.type for g in model.blocks}))} blocks (use ulysses or ring)"
        )
    _check_tokens(model, geometry, s)
    _check_ckpt(model, s)
    if s.pp > model.depth:
        raise SpecError(f"pp={s.pp} exceeds the model's {model.depth} blocks; use pp <= {model.depth}")
    if s.pp > 1 and s.zero >= 2 and s.stack.zero_impl == "deepspeed":
        raise SpecError(
            f"zero={s.zero} with pp={s.pp} and stack.zero_impl=deepspeed: DeepSpeed's "
            "PipelineEngine runs only ZeRO-0/1; use zero <= 1, or zero_impl fsdp (FSDP with "
            "pipelining, as torchtitan runs it)"
        )
    if s.vpp > 1 and s.pp == 1:
        raise SpecError(f"vpp={s.vpp} needs pp > 1 (virtual stages interleave pipeline ranks)")


def _check_ckpt(model: ModelSpec, s: StrategySpec) -> None:
    if isinstance(s.ckpt, str) or len(s.ckpt) in (model.depth, len(model.blocks)):
        return
    raise SpecError(
        f"ckpt has {len(s.ckpt)} entries; give one per block ({model.depth}) or one per block "
        f"group ({len(model.blocks)}), or a single mode"
    )


def ckpt_mix(s: StrategySpec, model: ModelSpec, group_index: int, count: int) -> list[tuple[str, int]]:
    """(mode, blocks) for `count` blocks of one group (the slowest stage's share of it). `ckpt`
    is one mode, one mode per block (SPEC_FORMAT), or one per block group."""
    if isinstance(s.ckpt, str):
        return [(s.ckpt, count)]
    if len(s.ckpt) != model.depth:
        return [(s.ckpt[group_index], count)]
    start = sum(g.count for g in model.blocks[:group_index])
    modes = s.ckpt[start : start + model.blocks[group_index].count]
    tally = {mode: modes.count(mode) for mode in dict.fromkeys(modes)}
    return _scale_counts(tally, count)


def _scale_counts(tally: dict[str, int], count: int) -> list[tuple[str, int]]:
    """Scale block counts per mode to `count` blocks (largest remainder, stable order)."""
    total = sum(tally.values())
    shares = {mode: n * count / total for mode, n in tally.items()}
    scaled = {mode: int(share) for mode, share in shares.items()}
    by_remainder = sorted(shares, key=lambda mode: -(shares[mode] - scaled[mode]))
    for mode in by_remainder[: count - sum(scaled.values())]:
        scaled[mode] += 1
    return [(mode, n) for mode, n in scaled.items() if n > 0]


def _check_heads(model: ModelSpec, s: StrategySpec) -> None:
    if model.heads % s.tp:
        raise SpecError(f"tp={s.tp} must divide heads={model.heads} ({model.name})")
    if model.ffn % s.tp:
        raise SpecError(f"tp={s.tp} must divide ffn_hidden={model.ffn} ({model.name})")
    heads_per_tp = model.heads // s.tp
    u = s.ulysses_degree
    if s.sp_method in ("ulysses", "fastseq", "usp") and heads_per_tp % u:
        raise SpecError(
            f"{heads_per_tp} heads per TP rank not divisible by the {s.sp_method} degree {u} "
            f"(heads={model.heads}, tp={s.tp})"
        )


def _check_tokens(model: ModelSpec, geometry: TokenGeometry, s: StrategySpec) -> None:
    if s.sp == 1:
        return
    if s.sp_method == "dsp":
        pairs = (("frames", geometry.frames), ("tokens_per_frame", geometry.tokens_per_frame))
    else:
        pairs = (("tokens", geometry.attention_tokens),)
    for what, size in pairs:
        if size % s.sp:
            raise SpecError(f"sp={s.sp} must divide the {size} {what} it splits ({s.sp_method})")


def _has_factorized_blocks(model: ModelSpec) -> bool:
    return any(g.type in ("spatial", "temporal", "spatial_temporal") for g in model.blocks)


def stage_blocks(model: ModelSpec, pp: int) -> list[tuple[int, int]]:
    """Blocks of each group on the slowest pipeline stage (ceil(depth / pp) blocks, taken
    proportionally from each group; Megatron allows uneven stages and the largest sets the pace)."""
    if pp == 1:
        return [(i, g.count) for i, g in enumerate(model.blocks)]
    per_stage = ceil_div(model.depth, pp)
    shares = [(i, g.count * per_stage / model.depth) for i, g in enumerate(model.blocks)]
    counts = [(i, int(share)) for i, share in shares]
    missing = per_stage - sum(c for _, c in counts)
    by_remainder = sorted(shares, key=lambda item: -(item[1] - int(item[1])))
    extra = {i for i, _ in by_remainder[:missing]}
    return [(i, c + (i in extra)) for i, c in counts if c + (i in extra) > 0]


def make_layout(
    *, model: ModelSpec, workload: WorkloadSpec, strategy: StrategySpec, num_gpus: int
) -> Layout:
    global_batch = strategy.global_batch or workload.global_batch
    per_step = strategy.dp * strategy.micro_batch
    if global_batch % per_step:
        raise SpecError(
            f"dp*micro_batch = {strategy.dp}*{strategy.micro_batch} = {per_step} must divide "
            f"global_batch = {global_batch}"
        )
    return Layout(
        num_gpus=num_gpus,
        global_batch=global_batch,
        microbatches=global_batch // per_step,
        stage_blocks=stage_blocks(model, strategy.pp),
        element_bytes=workload.element_bytes,
    )


def stage_params(cost: ModelCost, layout: Layout, *, tp: int, pp: int, family: str) -> float:
    """Parameters one GPU holds: its stage's blocks (TP-split part / tp) plus embedders. GPT
    vocabularies are TP-split (Megatron VocabParallelEmbedding); DiT embedders and final layers
    are small and replicated. With pp > 1 the embedders and the head sit on different stages."""
    block_params = sum(
        count * (b.params_tp_sharded / tp + b.params_replicated)
        for b, count in _stage_costs(cost, layout)
    )
    embed = cost.embed_params / (tp if family == "gpt" else 1) / (1 if pp == 1 else 2)
    return block_params + embed


def _stage_costs(cost: ModelCost, layout: Layout) -> list[tuple[BlockCost, int]]:
    return [(cost.blocks[i], count) for i, count in layout.stage_blocks]
