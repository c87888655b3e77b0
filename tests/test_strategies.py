"""Per-GPU byte volumes of every strategy against the textbook formulas.

Source: ../shared/reference/sequence_parallel.md §0 and §8 (X = micro_batch·tokens·hidden·bytes):
Ulysses 4X(p−1)/p², ring 2X(p−1)/p, FastSeq X(p²−1)/p² per attention layer forward; DSP 2X(p−1)/p²
per spatial+temporal pair; Megatron TP 2 all-reduces per layer forward (Shoeybi et al. 2019).
"""

from __future__ import annotations

import pytest

from parplan.cluster.comm_ops import CollectiveCall, payload_bytes, sent_bytes
from parplan.compare.sp import layer_fwd_bytes
from parplan.cost.strategies.base import BlockShape
from parplan.cost.strategies.dp import dp_microbatch_calls, dp_step_calls, padded_bytes
from parplan.cost.strategies.pp import bubble_fraction
from parplan.cost.strategies.tp import tp_calls
from parplan.specs import StrategySpec, load_cluster, load_model, load_workload

MODEL = {
    "name": "tiny-dit", "hidden": 256, "heads": 16, "blocks": [{"type": "full", "count": 2}],
    "patch": [1, 2, 2], "in_channels": 4,
}  # fmt: skip
WORKLOAD = {"kind": "video", "frames": 16, "height": 256, "width": 256, "global_batch": 64,
            "vae": {"temporal": 1, "spatial": 8, "causal": False}}  # fmt: skip


def _x_bytes(micro_batch: int = 1) -> float:
    tokens = 16 * (256 // 8 // 2) ** 2
    return micro_batch * tokens * 256 * 2


def _fwd_bytes(method: str, p: int, **extra) -> float:
    strategy = StrategySpec(dp=1, sp=p, sp_method=method, micro_batch=1, global_batch=1, **extra)
    return layer_fwd_bytes(
        load_model(MODEL), load_workload(WORKLOAD), load_cluster("h100-dgx-ndr400"), strategy
    )


@pytest.mark.parametrize("p", [2, 4, 8, 16])
def test_ulysses_forward_bytes(p: int) -> None:
    assert _fwd_bytes("ulysses", p) == pytest.approx(4 * _x_bytes() * (p - 1) / p**2)


@pytest.mark.parametrize("p", [2, 4, 8, 16])
def test_ring_forward_bytes(p: int) -> None:
    assert _fwd_bytes("ring", p) == pytest.approx(2 * _x_bytes() * (p - 1) / p)


@pytest.mark.parametrize("p", [2, 3, 4, 8])
def test_fastseq_forward_bytes(p: int) -> None:
    if 16 % p:  # p = 3: a 24-head model and 15 frames, so heads and tokens divide
        model = {**MODEL, "hidden": 264, "heads": 24}
        workload = {**WORKLOAD, "frames": 15}
        strategy = StrategySpec(dp=1, sp=p, sp_method="fastseq", global_batch=1)
        got = layer_fwd_bytes(
            load_model(model), load_workload(workload), load_cluster("h100-dgx-ndr400"), strategy
        )
        x = _x_bytes() * 264 / 256 * 15 / 16
    else:
        got, x = _fwd_bytes("fastseq", p), _x_bytes()
    assert got == pytest.approx(x * (p * p - 1) / p**2)


def test_fastseq_beats_ulysses_bytes_only_at_p2() -> None:
    """sequence_parallel.md §3: FastSeq/Ulysses volume = (p+1)/4: 0.75 at p=2, 1.25 at p=4."""
    for p, ratio in ((2, 0.75), (4, 1.25), (8, 2.25)):
        assert _fwd_bytes("fastseq", p) / _fwd_bytes("ulysses", p) == pytest.approx(ratio)


@pytest.mark.parametrize(("u", "r"), [(2, 2), (4, 2), (2, 4)])
def test_usp_forward_bytes(u: int, r: int) -> None:
    """Ulysses part 4X/p·(u−1)/u plus ring part 2X(r−1)/p (sequence_parallel.md §8)."""
    p, x = u * r, _x_bytes()
    expected = 4 * x / p * (u - 1) / u + 2 * x * (r - 1) / p
    assert _fwd_bytes("usp", p, ulysses=u, ring=r) == pytest.approx(expected)


def test_dsp_spatial_temporal_block_bytes() -> None:
    """DSP: 2 all-to-alls of X/p per spatial_temporal block: 2X(p−1)/p² (sequence_parallel.md §4)."""
    model = {**MODEL, "blocks": [{"type": "spatial_temporal", "count": 2}]}
    strategy = StrategySpec(dp=1, sp=4, sp_method="dsp", global_batch=1)
    got = layer_fwd_bytes(load_model(model), load_workload(WORKLOAD), load_cluster("h100-dgx-ndr400"), strategy)
    assert got == pytest.approx(2 * _x_bytes() * 3 / 16)


def _shape(**overrides) -> BlockShape:
    base = dict(block_type="full", micro_batch=1, rows=1024, hidden=256, kv_width=256,
                self_attentions=1, cross_attention=False, text_rows=0, element_bytes=2,
                params_replicated=0)  # fmt: skip
    return BlockShape(**{**base, **overrides})


def test_tp_two_all_reduces_per_layer() -> None:
    """Megatron (Shoeybi 2019 §3): forward g after attention and MLP; backward f likewise."""
    fwd, bwd = tp_calls(_shape(), degree=4, megatron_sp=False)
    assert [(c.op, c.count) for c in fwd] == [("all_reduce", 2)]
    assert sum(sent_bytes(c, 4) * c.count for c in fwd) == pytest.approx(2 * 2 * 3 / 4 * _shape().x_bytes)
    assert len(bwd) == 1


def test_megatron_sp_moves_the_same_bytes_as_all_reduce() -> None:
    """Korthikanti 2022 §4.2.2: all-reduce = reduce-scatter + all-gather, same bytes on the wire."""
    shape = _shape()
    ar, _ = tp_calls(shape, degree=8, megatron_sp=False)
    agrs, _ = tp_calls(shape, degree=8, megatron_sp=True)
    total = lambda calls: sum(sent_bytes(c, 8) * c.count for c in calls)  # noqa: E731
    assert total(agrs) == pytest.approx(total(ar))


def test_zero_stage_volumes() -> None:
    """ZeRO §5: stage 0 all-reduce 2Ψ, stages 1-2 reduce-scatter + all-gather 2Ψ on the wire
    (ZeRO-2 reduce-scatters per micro-batch: one micro-batch here)."""
    psi = 1_000_000
    for zero in (0, 1, 2):
        calls = dp_step_calls(params=psi, element_bytes=2, zero=zero, group_size=8)
        calls += dp_microbatch_calls(params=psi, element_bytes=2, zero=zero, group_size=8)
        assert sum(sent_bytes(c, 8) for c in calls) == pytest.approx(2 * 7 / 8 * psi * 2)
    assert not dp_microbatch_calls(params=psi, element_bytes=2, zero=1, group_size=8)


def test_padding_rounds_up_to_group_size() -> None:
    assert padded_bytes(params=10, element_bytes=4, group_size=4) == 12 * 4


def test_payload_bytes_per_op() -> None:
    """What a rank hands to c10d: all-gather input is buffer/p; others the buffer."""
    ag = CollectiveCall(op="all_gather", dim="tp", buffer_bytes=800)
    ring = CollectiveCall(op="p2p_ring", dim="sp", buffer_bytes=100, steps=3, count=2)
    assert payload_bytes(ag, 4) == 200
    assert payload_bytes(ring, 4) == 600
    assert payload_bytes(ag, 1) == 0


def test_bubble_fraction() -> None:
    """Narayanan et al. 2021 §2.2: (p−1)/(v·m)."""
    assert bubble_fraction(pp=8, vpp=1, microbatches=32) == pytest.approx(7 / 32)
    assert bubble_fraction(pp=8, vpp=4, microbatches=32) == pytest.approx(7 / 128)
    assert bubble_fraction(pp=1, vpp=1, microbatches=4) == 0
