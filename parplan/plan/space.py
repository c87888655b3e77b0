"""The planner's search space: every (dp, tp, sp, pp, vpp, ZeRO stage, micro-batch, SP method)
that passes divisibility, its rank orders, and the StrategySpec of a candidate.

Kept apart from the search (search.py): nothing here asks the cost model.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from parplan.specs import ModelSpec, StackSpec, StrategySpec

CANONICAL_ORDER = ("tp", "sp", "dp", "pp")
MAX_VPP = 4
AUTO_ALL_ORDERS_GPUS = 32
OrderSpace = Literal["all", "standard"]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def divisors(n: int) -> list[int]:
    return sorted({d for k in range(1, int(n**0.5) + 2) if n % k == 0 for d in (k, n // k)})


def sp_variants(
    *, sp: int, heads_per_tp: int, model: ModelSpec, ring_ok: bool = True
) -> list[dict[str, Any]]:
    """SP methods for degree `sp`: Ulysses/FastSeq need heads % sp == 0, USP every u x r split.
    `ring_ok=False` (unfused attention) drops ring and USP: ring attention is blockwise flash."""
    if sp == 1:
        return [{"sp_method": "none"}]
    variants: list[dict[str, Any]] = [{"sp_method": "ring"}] if ring_ok else []
    if heads_per_tp % sp == 0:
        variants += [{"sp_method": "ulysses"}, {"sp_method": "fastseq"}]
    splits = [u for u in divisors(sp) if 1 < u < sp and heads_per_tp % u == 0] if ring_ok else []
    variants += [{"sp_method": "usp", "ulysses": u, "ring": sp // u} for u in splits]
    if {"spatial", "temporal", "spatial_temporal"} & {g.type for g in model.blocks}:
        variants.append({"sp_method": "dsp"})
    return variants


def orders_for(degrees: dict[str, int], *, space: OrderSpace = "all") -> list[list[str]]:
    """Rank orders that differ: permute the dims with degree > 1, append the rest canonically.

    space="standard" keeps tp innermost and pp outermost (Megatron's and torchtitan's layout:
    the chattiest dim on NVLink, the lightest, point-to-point one across the fabric) and tries
    sp and dp both ways: at most 2 orders instead of 24.
    """
    active = tuple(d for d in CANONICAL_ORDER if degrees[d] > 1)
    return [list(order) for order in _orders(active, space)]


@functools.lru_cache(maxsize=64)
def _orders(active: tuple[str, ...], space: OrderSpace) -> tuple[tuple[str, ...], ...]:
    """orders_for, cached on which dims are active (the search asks ~10^5 times)."""
    rest = [d for d in CANONICAL_ORDER if d not in active]
    orders = [list(p) + rest for p in itertools.permutations(active)]
    if space == "standard":
        orders = [o for o in orders if _standard(o, list(active))]
    return tuple(tuple(o) for o in orders)


def _standard(order: list[str], active: list[str]) -> bool:
    inner_ok = "tp" not in active or order[0] == "tp"
    outer_ok = "pp" not in active or order[len(active) - 1] == "pp"
    return inner_ok and outer_ok


def order_space_for(num_gpus: int) -> OrderSpace:
    """Every order up to AUTO_ALL_ORDERS_GPUS GPUs; beyond, the standard ones (cost-model
    calls on tens of thousands of ranks are what the planner's time goes into)."""
    return "all" if num_gpus <= AUTO_ALL_ORDERS_GPUS else "standard"


class Core(Record):
    """A candidate without its rank order and checkpointing (those are solved per core)."""

    dp: int
    tp: int
    sp: int
    pp: int
    vpp: int
    zero: int
    micro_batch: int
    sp_fields: dict[str, Any]
    # per-block-type SP methods the block ILP chooses from (None: sp_fields' method everywhere)
    type_methods: dict[str, list[str]] | None = None


def core_candidates(
    *,
    model: ModelSpec,
    num_gpus: int,
    global_batch: int,
    gpus_per_node: int,
    per_type: bool = False,
    ring_ok: bool = True,
    zero_with_pp: tuple[int, ...] = (0, 1),
) -> Iterator[Core]:
    """Every (dp, tp, sp, pp, vpp, zero, micro-batch, SP method) that passes divisibility.
    `per_type`: one core per USP split whose SP method the ILP picks per block type;
    `zero_with_pp`: the ZeRO stages to try with pp > 1 (zero_impl.pipeline_zero_stages)."""
    for tp, sp, pp in itertools.product(divisors(num_gpus), repeat=3):
        dp, rem = divmod(num_gpus, tp * sp * pp)
        if rem or not _degrees_ok(
            model=model, tp=tp, pp=pp, dp=dp, global_batch=global_batch, gpus_per_node=gpus_per_node
        ):
            continue
        yield from _expand(
            model=model, dp=dp, tp=tp, sp=sp, pp=pp, global_batch=global_batch, per_type=per_type,
            ring_ok=ring_ok, zero_with_pp=zero_with_pp,
        )  # fmt: skip


def _degrees_ok(
    *, model: ModelSpec, tp: int, pp: int, dp: int, global_batch: int, gpus_per_node: int
) -> bool:
    """TP splits heads and stays inside a node; PP <= depth; dp divides the batch."""
    return (
        model.heads % tp == 0
        and model.n_kv_heads % tp == 0
        and tp <= gpus_per_node
        and pp <= model.depth
        and global_batch % dp == 0
    )


def _expand(
    *,
    model: ModelSpec,
    dp: int,
    tp: int,
    sp: int,
    pp: int,
    global_batch: int,
    per_type: bool,
    ring_ok: bool = True,
    zero_with_pp: tuple[int, ...] = (0, 1),
) -> Iterator[Core]:
    micro = divisors(global_batch // dp)  # no fixed cap: the search's memory floor bounds it
    vpps = [v for v in range(1, MAX_VPP + 1) if pp > 1 and pp * v <= model.depth] or [1]
    # ZeRO shards over dp x sp (DeepSpeed-Ulysses); with pp > 1 only what the framework runs
    zeros = (list(zero_with_pp) if pp > 1 else [0, 1, 2, 3]) if dp * sp > 1 else [0]
    variants = sp_variants(sp=sp, heads_per_tp=model.heads // tp, model=model, ring_ok=ring_ok)
    mixes = mix_variants(variants, model) if per_type and sp > 1 else [(v, None) for v in variants]
    for vpp, zero, mb, (fields, methods) in itertools.product(vpps, zeros, micro, mixes):
        yield Core(dp=dp, tp=tp, sp=sp, pp=pp, vpp=vpp, zero=zero, micro_batch=mb,
                   sp_fields=fields, type_methods=methods)  # fmt: skip


FACTORIZED = ("spatial", "temporal", "spatial_temporal")


def mix_variants(
    variants: list[dict[str, Any]], model: ModelSpec
) -> list[tuple[dict[str, Any], dict[str, list[str]]]]:
    """Per-block-type candidates, one per USP split (USP shares the strategy's ulysses x ring
    split, so two types cannot run different splits): every type may pick ring, Ulysses and
    FastSeq where the heads allow, that split's USP, and DSP (spatial/temporal types only)."""
    if not variants:
        return []
    whole = [v["sp_method"] for v in variants if v["sp_method"] != "usp"]
    splits = [v for v in variants if v["sp_method"] == "usp"] or [{"sp_method": whole[0]}]
    types = sorted({g.type for g in model.blocks})
    result = []
    for split in splits:
        usp = ["usp"] if split["sp_method"] == "usp" else []
        offered = {
            t: sorted(m for m in whole + usp if m != "dsp" or t in FACTORIZED) for t in types
        }
        result.append((split, offered))
    return result


def strategy_of(
    core: Core,
    *,
    order: Sequence[str],
    global_batch: int,
    ckpt: Any = "none",
    sp_fields: dict[str, Any] | None = None,
    stack: StackSpec | None = None,
) -> StrategySpec:
    return StrategySpec(
        dp=core.dp,
        tp=core.tp,
        sp=core.sp,
        pp=core.pp,
        vpp=core.vpp,
        zero=core.zero,
        micro_batch=core.micro_batch,
        global_batch=global_batch,
        order=list(order),
        ckpt=ckpt,
        megatron_sp=core.tp > 1,
        stack=stack or StackSpec(),
        **(core.sp_fields if sp_fields is None else sp_fields),
    )


def mix_fields(core: Core, methods: dict[str, str], model: ModelSpec) -> dict[str, Any]:
    """Strategy fields of a method-per-type choice: sp_method is the method of the type with
    the most blocks, `sp_methods` lists only the types that differ from it."""
    blocks: Counter[str] = Counter()
    for group in model.blocks:
        blocks[group.type] += group.count
    main = methods[max(blocks, key=lambda t: (blocks[t], -_first_index(model, t)))]
    fields: dict[str, Any] = {"sp_method": main}
    differ = {t: m for t, m in sorted(methods.items()) if m != main}
    if differ:
        fields["sp_methods"] = differ
    if "usp" in methods.values():
        fields.update(ulysses=core.sp_fields["ulysses"], ring=core.sp_fields["ring"])
    return fields


def _first_index(model: ModelSpec, block_type: str) -> int:
    return next(k for k, g in enumerate(model.blocks) if g.type == block_type)
