"""--tiny: a scaled-down model of the plan's kind that trains in seconds on CPU ranks.

It keeps what the layout depends on: the plan's degrees, rank order, ZeRO stage and SP method;
the model's head count (so tp and the Ulysses degree divide it as they divide the plan's) and
its block types in model order (one block of each, at least two blocks, each with the plan's
checkpoint mode for that block) and cross-attention. It shrinks what only sets the size: head
dim 16, 16 text tokens, 256 tokens per image or 64 per frame over sp frames (at least 2, so
DSP's frame split divides), micro batch 1 and no gradient accumulation.
"""

from __future__ import annotations

from parplan.smoke.config import blocks_from_model
from parplan.specs import ModelSpec, StrategySpec

HEAD_DIM = 16
IMAGE_TOKENS = 256
TOKENS_PER_FRAME = 64
TEXT_TOKENS = 16


def tiny_blocks(types: list[str]) -> list[int]:
    """Indices of the kept blocks: the first of each type, then the second block if only one."""
    kept = sorted({types.index(t) for t in types})
    if len(kept) == 1 and len(types) > 1:
        kept.append(1)
    return kept


def tiny_shape(
    model: ModelSpec, strategy: StrategySpec, modes: list[str]
) -> tuple[dict, StrategySpec, list[str]]:
    """(SmokeConfig fields, the tiny strategy, checkpoint mode per tiny block)."""
    types = list(blocks_from_model(model))  # SpecError for types the smoke blocks lack
    kept = tiny_blocks(types)
    video = any(types[i] != "full" for i in kept)
    frames = max(2, strategy.sp) if video else 1
    fields = {
        "name": f"{model.name}-tiny",
        "blocks": tuple(types[i] for i in kept),
        "hidden": model.heads * HEAD_DIM,
        "heads": model.heads,
        "cross_attention": model.cross_attention,
        "text_tokens": TEXT_TOKENS,
        "frames": frames,
        "tokens": frames * TOKENS_PER_FRAME if video else IMAGE_TOKENS,
    }
    tiny_modes = [modes[i] for i in kept]
    ckpt = tiny_modes[0] if len(set(tiny_modes)) == 1 else tiny_modes
    tiny = strategy.model_copy(
        update={"micro_batch": 1, "global_batch": strategy.dp, "ckpt": ckpt}
    )
    return fields, StrategySpec.model_validate(tiny.model_dump()), tiny_modes
