"""Rank layout: which global ranks (GPUs) form each process group of each parallel dimension.

Why this module exists: the cost of a collective depends on where its group's GPUs sit (one
NVSwitch node, one rail, across the spine), and that follows from the rank order alone. The
layout is the one Megatron-LM and torchtitan build (nanotron's `reshape(pp, dp, cp, tp)`): the
first dimension of `order` varies fastest, so with order [tp, sp, dp, pp] a TP group is `tp`
consecutive ranks and GPU g sits on node g // gpus_per_node.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

from parplan.errors import SpecError
from parplan.specs import StrategySpec

STRATEGY_DIMS = ("tp", "sp", "dp", "pp")


def rank_strides(*, degrees: dict[str, int], order: Sequence[str]) -> dict[str, int]:
    """Rank stride of each dimension: 1 for order[0], then the product of the inner degrees."""
    _check_layout(degrees=degrees, order=order)
    strides: dict[str, int] = {}
    stride = 1
    for dim in order:
        strides[dim] = stride
        stride *= degrees.get(dim, 1)
    return strides


def _check_layout(*, degrees: dict[str, int], order: Sequence[str]) -> None:
    if len(set(order)) != len(order):
        raise SpecError(f"order={list(order)} repeats a dimension")
    missing = sorted(set(degrees) - set(order))
    if missing:
        raise SpecError(f"order={list(order)} lacks dimension(s) {missing} that have degrees")
    for dim, degree in degrees.items():
        if degree < 1:
            raise SpecError(f"degree {dim}={degree} must be >= 1")


def groups_over(
    *, dims: Sequence[str], degrees: dict[str, int], order: Sequence[str]
) -> list[list[int]]:
    """Groups whose ranks differ only in the coordinates of `dims` (e.g. dp and sp jointly).

    Each group is sorted by rank; the groups are listed by their smallest rank.
    """
    strides = rank_strides(degrees=degrees, order=order)
    world = prod(degrees.get(d, 1) for d in order)
    offsets = _mixed_radix(dims, degrees, strides)
    # the bases (coordinate 0 in every dim of `dims`) are the ranks spanned by the other dims
    bases = _mixed_radix([d for d in order if d not in dims], degrees, strides)
    assert len(bases) * len(offsets) == world
    return [[b + o for o in offsets] for b in bases]


def _mixed_radix(
    dims: Sequence[str], degrees: dict[str, int], strides: dict[str, int]
) -> list[int]:
    """Sorted ranks sum(i_d * stride_d) over every coordinate of `dims` (others at 0)."""
    ranks = [0]
    for dim in dims:
        step = strides[dim]
        ranks = [r + i * step for i in range(degrees.get(dim, 1)) for r in ranks]
    return sorted(ranks)


def rank_groups(*, degrees: dict[str, int], order: list[str]) -> dict[str, list[list[int]]]:
    """Process groups of every dimension in `order` (degree 1 where `degrees` omits it)."""
    return {dim: groups_over(dims=[dim], degrees=degrees, order=order) for dim in order}


def split_inner(groups: list[list[int]], *, inner: int) -> tuple[list[list[int]], list[list[int]]]:
    """Split each group into `inner`-sized contiguous sub-groups and their strided complements.

    USP (xDiT / yunchang `set_seq_parallel_pg`, feifeibear/long-context-attention): Ulysses is the
    inner axis (contiguous ranks, inside a node), ring the outer one.
    """
    contiguous: list[list[int]] = []
    strided: list[list[int]] = []
    for group in groups:
        if len(group) % inner:
            raise SpecError(f"ulysses degree {inner} must divide sp group size {len(group)}")
        contiguous += [group[i : i + inner] for i in range(0, len(group), inner)]
        strided += [group[j::inner] for j in range(inner)]
    return contiguous, strided


def strategy_groups(strategy: StrategySpec) -> dict[str, list[list[int]]]:
    """Groups for tp, sp, dp, pp, the SP sub-axes ulysses and ring, and dp_sp (gradient/ZeRO)."""
    degrees = {d: getattr(strategy, d) for d in STRATEGY_DIMS}
    order = list(strategy.order)
    groups = rank_groups(degrees=degrees, order=order)
    ulysses, ring = split_inner(groups["sp"], inner=strategy.ulysses_degree)
    groups["ulysses"], groups["ring"] = ulysses, ring
    groups["dp_sp"] = groups_over(dims=["dp", "sp"], degrees=degrees, order=order)
    return groups
