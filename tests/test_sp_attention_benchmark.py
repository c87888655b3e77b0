"""Ulysses vs USP vs ring attention against yunchang's published attention-only benchmark.

../shared/reference/sequence_parallel.md §5 (feifeibear/long-context-attention,
media/benchmark_results.png): forward iterations/s of causal attention alone on 8×A100-SXM4-80GB
NVLink, batch 2, head size 32, Ulysses degree ud × ring degree 8/ud. The model's figure is one
attention forward plus its exposed SP communication (parplan/cost/step.py block pieces) on the
`a100-selene` node. Only the 128K rows are compared: at 8K and 32K the published times
(4.2 ms and 11.4 ms for pure Ulysses) are several times the attention's FLOPs at any plausible
rate, so something outside attention and communication (per-call overhead of the benchmark)
dominates them, and the model has no term for it (docs/validation.md).
"""

from __future__ import annotations

import pytest

from parplan.cluster.comm_model import CommModel
from parplan.cost.block import resolve
from parplan.cost.device import Device
from parplan.cost.stage import evaluate_blocks
from parplan.specs import StrategySpec, load_cluster, load_model, load_workload

CLUSTER = load_cluster("a100-selene")
GPUS = 8
# (sequence, heads) -> measured iterations/s for ud = 8, 4, 2, 1
MEASURED = {(131072, 32): (15.9, 16.0, 15.3, 13.2), (131072, 8): (58.6, 59.5, 58.3, 51.8)}
ULYSSES_DEGREES = (8, 4, 2, 1)


def _strategy(ulysses: int) -> StrategySpec:
    common = dict(dp=1, sp=GPUS, micro_batch=2, global_batch=2)
    if ulysses == GPUS:
        return StrategySpec(sp_method="ulysses", **common)
    if ulysses == 1:
        return StrategySpec(sp_method="ring", **common)
    return StrategySpec(sp_method="usp", ulysses=ulysses, ring=GPUS // ulysses, **common)


def predicted_iterations_per_s(seq: int, heads: int, ulysses: int) -> float:
    model = load_model({"name": "attention-only", "family": "gpt", "vocab": 0, "heads": heads,
                        "hidden": 32 * heads, "blocks": [{"type": "causal", "count": 1}]})  # fmt: skip
    workload = load_workload({"kind": "text", "seq_len": seq, "global_batch": 2})
    inp = resolve(model, workload, CLUSTER, _strategy(ulysses), GPUS)
    comm = CommModel(CLUSTER, inp.strategy, GPUS)
    block = evaluate_blocks(inp, comm, Device.of(CLUSTER, "bf16"))[0]
    exposed_fwd = sum(e.exposed_s for e in block.exposed if e.timed.call.phase == "fwd")
    return 1.0 / (block.parts.self_attention_s + exposed_fwd)


@pytest.mark.parametrize(("seq", "heads"), list(MEASURED))
def test_pure_ring_is_slowest_as_measured(seq: int, heads: int) -> None:
    predicted = [predicted_iterations_per_s(seq, heads, u) for u in ULYSSES_DEGREES]
    measured = MEASURED[(seq, heads)]
    print(f"\n{seq} tokens, {heads} heads: predicted {[round(p, 1) for p in predicted]} it/s, "
          f"measured {list(measured)}")  # fmt: skip
    assert min(measured) == measured[-1]
    assert min(predicted) == predicted[-1]


@pytest.mark.parametrize(("seq", "heads"), list(MEASURED))
def test_long_sequence_throughput_within_a_third(seq: int, heads: int) -> None:
    """Measured: the model predicts 1.10-1.32x the published rate (likely: head size 32 runs
    FlashAttention-2 below the head-dim 64/128 efficiency the model takes from Dao 2023)."""
    for u, measured in zip(ULYSSES_DEGREES, MEASURED[(seq, heads)], strict=True):
        ratio = predicted_iterations_per_s(seq, heads, u) / measured
        assert abs(ratio - 1) < 0.35, (u, ratio)
