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

import numpy as np

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


def group_array(*, dims: Sequence[str], degrees: dict[str, int], order: Sequence[str]) -> np.ndarray:
    """Groups whose ranks differ only in the coordinates of `dims` (e.g. dp and sp jointly), as
    a (groups, group size) int64 array: each row sorted by rank, rows by their smallest rank.
    Arrays, not lists: at 16,384 ranks Python lists of ints dominated the planner's time."""
    strides = rank_strides(degrees=degrees, order=order)
    world = prod(degrees.get(d, 1) for d in order)
    offsets = _mixed_radix(dims, degrees, strides)
    # the bases (coordinate 0 in every dim of `dims`) are the ranks spanned by the other dims
    bases = _mixed_radix([d for d in order if d not in dims], degrees, strides)
    assert len(bases) * len(offsets) == world
    return np.asarray(bases, dtype=np.int64)[:, None] + np.asarray(offsets, dtype=np.int64)[None, :]


def groups_over(
    *, dims: Sequence[str], degrees: dict[str, int], order: Sequence[str]
) -> list[list[int]]:
    """`group_array` as lists."""
    return group_array(dims=dims, degrees=degrees, order=order).tolist()


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


def split_inner(groups: np.ndarray, *, inner: int) -> tuple[np.ndarray, np.ndarray]:
    """Split each group (a row) into `inner`-sized contiguous sub-groups and their strided
    complements (`group[j::inner]`).

    USP (xDiT / yunchang `set_seq_parallel_pg`, feifeibear/long-context-attention): Ulysses is the
    inner axis (contiguous ranks, inside a node), ring the outer one.
    """
    count, size = groups.shape
    if size % inner:
        raise SpecError(f"ulysses degree {inner} must divide sp group size {size}")
    blocks = groups.reshape(count, size // inner, inner)  # (group, block, position in block)
    return blocks.reshape(-1, inner), blocks.transpose(0, 2, 1).reshape(-1, size // inner)


def strategy_group_arrays(strategy: StrategySpec) -> dict[str, np.ndarray]:
    """Groups for tp, sp, dp, pp, the SP sub-axes ulysses and ring, and dp_sp (gradient/ZeRO)."""
    degrees = {d: getattr(strategy, d) for d in STRATEGY_DIMS}
    order = list(strategy.order)
    groups = {dim: group_array(dims=[dim], degrees=degrees, order=order) for dim in order}
    groups["ulysses"], groups["ring"] = split_inner(groups["sp"], inner=strategy.ulysses_degree)
    groups["dp_sp"] = group_array(dims=["dp", "sp"], degrees=degrees, order=order)
    for grid in groups.values():  # cached and shared (comm_model, collectives): read-only
        grid.flags.writeable = False
    return groups


def strategy_groups(strategy: StrategySpec) -> dict[str, list[list[int]]]:
    """`strategy_group_arrays` as lists."""
    return {dim: grid.tolist() for dim, grid in strategy_group_arrays(strategy).items()}
