"""parplan smoke on 4 gloo ranks: numerics vs one process, bytes vs hand counts and the cost model.

Tiny DiT (passed explicitly: smoke's default size is larger, for the time check): 2 full blocks,
hidden 64, 4 heads, 256 tokens, batch 1 per DP rank, fp32, so one full-sequence activation is
X = 256 * 64 * 4 B = 65,536 B. Hand counts per rank per step follow
docs/smoke.md ("Collectives each layout issues"); P = parameters per rank, 4 B each.
Each run costs 10-20 s on the 2-core box (DeepSpeed's import dominates the Ulysses ones).
"""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

pytest.importorskip("torch")

from proctree import children  # noqa: E402

from parplan.smoke import SmokeConfig, SmokeFailure, build_strategy, run_smoke  # noqa: E402

pytestmark = pytest.mark.distributed

TINY = {"hidden": 64, "heads": 4, "tokens": 256}
X = 256 * 64 * 4
BLOCKS = 2
TOLERANCE = 1e-5  # fp32, same math in a different order


def _params(strategy: dict) -> int:
    """Parameters one rank holds (TP splits the column/row-parallel weights)."""
    from parplan.smoke.config import SmokeConfig as Cfg
    from parplan.smoke.model import build_model
    from parplan.smoke.parallel import tp_shard_dim

    model = build_model(Cfg(**TINY))
    tp = strategy.get("tp", 1)
    return sum(
        p.numel() // (tp if tp_shard_dim(model, name) is not None else 1)
        for name, p in model.named_parameters()
    )


def _padded(n: int, parts: int) -> int:
    return -(-n // parts) * parts


def hand_bytes(strategy: dict) -> int:
    """Bytes one rank hands to c10d in one step, written out per layout (docs/smoke.md)."""
    sp, method = strategy.get("sp", 1), strategy.get("sp_method", "none")
    dp, zero, tp = strategy.get("dp", 1), strategy.get("zero", 0), strategy.get("tp", 1)
    per_block = 0
    if method == "ulysses":
        per_block = 2 * 4 * X // sp  # q, k, v, out all-to-alls, fwd and bwd
    elif method == "ring":
        per_block = (sp - 1 + sp - 1 + sp) * 2 * X // sp  # K,V fwd, K,V bwd, dK,dV bwd
    elif method == "fastseq":
        per_block = 2 * ((sp - 1) * X // sp + X // sp)  # ring gather/reduce-scatter + a2a
    elif method == "usp":
        r = strategy["ring"]
        per_block = 2 * 4 * X // sp + (r - 1 + r - 1 + r) * 2 * X // sp
    if tp > 1:
        per_block = 2 * 2 * X  # all_reduce after out-proj and fc2, and of their input grads
    grads = _params(strategy) * 4
    group = dp * sp
    if group == 1:
        dp_bytes = 0
    elif zero == 2:
        padded = _padded(grads // 4, group) * 4
        dp_bytes = padded + padded // group  # reduce_scatter input + all_gather input
    else:
        dp_bytes = grads
    return BLOCKS * per_block + dp_bytes


CASES = {
    "ulysses4": {"sp": 4, "sp_method": "ulysses"},
    "ring4": {"sp": 4, "sp_method": "ring"},
    "fastseq4": {"sp": 4, "sp_method": "fastseq"},
    "usp2x2": {"sp": 4, "sp_method": "usp", "ulysses": 2, "ring": 2},
    "tp2_dp2": {"tp": 2, "dp": 2},
    "ulysses2_dp2_zero2": {"sp": 2, "sp_method": "ulysses", "dp": 2, "zero": 2},
    # dp innermost (a plan's rank order): sp groups {0, 2}, {1, 3}, dp groups {0, 1}, {2, 3}
    "ulysses2_dp2_dp_first": {"sp": 2, "sp_method": "ulysses", "dp": 2,
                              "order": ["dp", "sp", "tp", "pp"]},
}


@pytest.mark.parametrize("name", list(CASES))
def test_layout_matches_one_process_and_byte_counts(name: str) -> None:
    strategy = CASES[name]
    cfg = SmokeConfig(nproc=4, strategy=build_strategy(**strategy), steps=2, **TINY)
    report = run_smoke(cfg)
    assert report["max_abs_err_output"] <= TOLERANCE
    assert report["max_abs_err_grad"] <= TOLERANCE
    assert report["bytes_measured_per_rank"] == [hand_bytes(strategy)] * 4
    if report["bytes_predicted"] is None:
        pytest.skip(f"no cost-model prediction: {report['notes']}")
    assert report["bytes_measured"] == report["bytes_predicted"]


def test_dsp_switches_between_spatial_and_temporal_blocks() -> None:
    """S, T, S, T sharded on frames: switches at 3 block boundaries + 1 back = 4 a2a of X/p."""
    cfg = SmokeConfig(
        nproc=4, strategy=build_strategy(sp=4, sp_method="dsp"), steps=2, frames=4,
        blocks=("spatial", "temporal", "spatial", "temporal"), cross_attention=True, **TINY,
    )  # fmt: skip
    report = run_smoke(cfg)
    assert report["max_abs_err_output"] <= TOLERANCE
    assert report["max_abs_err_grad"] <= TOLERANCE
    switches = [r for r in report["collectives_measured"] if r["label"] == "dsp.switch"]
    assert {(r["phase"], r["count"], r["bytes"]) for r in switches} == {
        ("fwd", 4, 4 * X // 4),
        ("bwd", 4, 4 * X // 4),
    }
    if report["bytes_predicted"] is not None:
        assert report["bytes_measured"] == report["bytes_predicted"]


@pytest.mark.parametrize(
    ("mode", "nproc", "strategy", "message"),
    [
        ("kill", 4, {"sp": 4, "sp_method": "ring"}, r"rank 2 died \(SIGKILL\)"),
        ("raise", 3, {"dp": 3}, "rank 2 failed: RuntimeError: injected failure"),
    ],
)  # fmt: skip
def test_failing_rank_stops_every_rank(mode: str, nproc: int, strategy: dict, message: str) -> None:
    """Rank 2 dies (or raises) at step 1 while the others wait in a collective."""
    before = set(children(os.getpid()))
    cfg = SmokeConfig(
        nproc=nproc, strategy=build_strategy(**strategy), steps=3, fail_rank=2,
        fail_mode=mode, timeout_s=60, **TINY,
    )  # fmt: skip
    start = time.monotonic()
    with pytest.raises(SmokeFailure, match=message):
        run_smoke(cfg)
    assert time.monotonic() - start < 45
    assert multiprocessing.active_children() == []
    assert set(children(os.getpid())) <= before
