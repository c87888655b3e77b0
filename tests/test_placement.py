"""Rank layout: groups partition the ranks, innermost dims are contiguous, SP sub-groups."""

from __future__ import annotations

from math import prod

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parplan.cluster.placement import rank_groups, strategy_groups
from parplan.errors import SpecError
from parplan.specs import StrategySpec

DIMS = ["tp", "sp", "dp", "pp"]


def test_small_layout_by_hand() -> None:
    groups = rank_groups(degrees={"tp": 2, "dp": 2}, order=["tp", "dp"])
    assert groups == {"tp": [[0, 1], [2, 3]], "dp": [[0, 2], [1, 3]]}


@settings(max_examples=60, deadline=None)
@given(
    degrees=st.lists(st.sampled_from([1, 2, 3, 4, 8]), min_size=4, max_size=4),
    order=st.permutations(DIMS),
)
def test_groups_partition_the_ranks(degrees: list[int], order: list[str]) -> None:
    deg = dict(zip(DIMS, degrees, strict=True))
    world = prod(degrees)
    for dim, groups in rank_groups(degrees=deg, order=list(order)).items():
        assert sorted(r for g in groups for r in g) == list(range(world))
        assert all(len(g) == deg[dim] for g in groups)
        assert len(groups) == world // deg[dim]


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_tp_groups_stay_inside_a_node(tp: int) -> None:
    groups = rank_groups(degrees={"tp": tp, "sp": 2, "dp": 4, "pp": 2}, order=DIMS)
    assert all(len({r // 8 for r in g}) == 1 for g in groups["tp"])


def test_tp_outermost_crosses_nodes() -> None:
    groups = rank_groups(degrees={"tp": 8, "dp": 4}, order=["dp", "tp"])
    assert groups["tp"][0] == [0, 4, 8, 12, 16, 20, 24, 28]


def test_usp_subgroups_ulysses_inner() -> None:
    s = StrategySpec(tp=2, sp=8, sp_method="usp", ulysses=4, ring=2, dp=2)
    groups = strategy_groups(s)
    assert groups["sp"][0] == [0, 2, 4, 6, 8, 10, 12, 14]
    assert groups["ulysses"][0] == [0, 2, 4, 6]
    assert groups["ring"][0] == [0, 8]
    assert groups["dp_sp"][0] == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]
    assert all(len(g) == 16 for g in groups["dp_sp"]) and len(groups["dp_sp"]) == 2


@pytest.mark.parametrize(
    ("method", "ulysses_size", "ring_size"), [("ulysses", 4, 1), ("fastseq", 4, 1), ("ring", 1, 4)]
)
def test_single_method_subgroups(method: str, ulysses_size: int, ring_size: int) -> None:
    groups = strategy_groups(StrategySpec(sp=4, sp_method=method, dp=2))
    assert len(groups["ulysses"][0]) == ulysses_size
    assert len(groups["ring"][0]) == ring_size
    assert groups["sp"][0] == [0, 1, 2, 3]


def test_bad_layouts_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="repeats"):
        rank_groups(degrees={"tp": 2}, order=["tp", "tp"])
    with pytest.raises(SpecError, match="lacks"):
        rank_groups(degrees={"tp": 2, "dp": 2}, order=["tp"])
    with pytest.raises(SpecError, match="dp=0"):
        rank_groups(degrees={"dp": 0}, order=["dp"])
