"""What the cost model predicts for a smoke run: its collectives (bytes) and its step time.

The prediction comes from the cost model only (`parplan.cost.step_calls.step_collectives` and
`parplan.cost.step.predict`), imported lazily so that smoke still runs, and says why, when the
cost model is missing or fails. No torch here.
"""

from __future__ import annotations

from parplan.cluster.comm_ops import CollectiveCall, payload_bytes
from parplan.errors import SpecError
from parplan.smoke.config import SmokeConfig, to_specs
from parplan.specs import ClusterSpec, load_cluster, user_calibration

DEFAULT_CLUSTER = "cpu-local"


def predicted_calls(cfg: SmokeConfig) -> tuple[list[tuple[CollectiveCall, int]] | None, str]:
    """(calls with group sizes, note); calls is None when the cost model cannot answer."""
    try:
        from parplan.cost.step_calls import step_collectives
    except ImportError as err:
        return None, f"parplan.cost.step_calls.step_collectives unavailable ({err})"
    model, workload, strategy = to_specs(cfg)
    try:
        return step_collectives(model, workload, strategy), ""
    except Exception as err:  # the cost model is another team's code: report, don't crash
        return None, f"step_collectives failed: {type(err).__name__}: {err}"


def predicted_table(calls: list[tuple[CollectiveCall, int]]) -> list[dict]:
    """Rows shaped like the measured table; `count` counts c10d calls (P2P: one per step)."""
    rows = []
    for call, size in calls:
        if size <= 1 or call.count == 0:
            continue
        calls_made = call.count * (call.steps if call.op == "p2p_ring" else 1)
        rows.append({
            "phase": call.phase, "op": call.op, "label": call.label, "dim": call.dim,
            "group_size": size, "count": calls_made, "bytes": payload_bytes(call, size),
        })  # fmt: skip
    return rows


def smoke_cluster(cfg: SmokeConfig) -> ClusterSpec:
    """The calibrated local cluster (or --cluster), resized to one node of `nproc` devices."""
    cluster = load_cluster(cfg.cluster or DEFAULT_CLUSTER)
    return cluster.model_copy(update={"gpus_per_node": cfg.nproc, "nodes": 1})


def predicted_step_time(cfg: SmokeConfig) -> tuple[float | None, str]:
    try:
        from parplan.cost.step import predict
    except ImportError as err:
        return None, f"parplan.cost.step.predict unavailable ({err})"
    try:
        cluster = smoke_cluster(cfg)
    except SpecError as err:
        return None, f"no cluster spec for the time prediction ({err}); run `parplan calibrate`"
    model, workload, strategy = to_specs(cfg)
    try:
        prediction = predict(model, workload, cluster, strategy, num_gpus=cfg.nproc)
    except Exception as err:  # see predicted_calls
        return None, f"predict failed: {type(err).__name__}: {err}"
    mine = user_calibration(cfg.cluster or DEFAULT_CLUSTER)
    calibrated = f" (your calibration {mine})" if mine is not None else ""
    return prediction.step_time_s, (
        f"cluster {cluster.name}{calibrated} resized to {cfg.nproc} devices"
    )
