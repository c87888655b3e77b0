"""Compare sequence-parallel methods (Ulysses, ring, FastSeq, USP, DSP) across SP degrees.

Each row fixes everything but the SP method and degree: dp = gpus / sp (tp = pp = 1), the same
micro-batch, ZeRO stage and checkpointing. Per-layer forward bytes are the textbook volumes of
../shared/reference/sequence_parallel.md §8 (computed from the same CollectiveCall records the
step-time model uses), so the table, the plot and `predict` cannot disagree.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from parplan.cluster.comm_ops import sent_bytes
from parplan.cost.block import block_calls, block_shape, dsp_switches_per_block, resolve
from parplan.cost.step import predict
from parplan.cost.step_calls import group_sizes
from parplan.errors import SpecError
from parplan.specs import (
    ClusterSpec,
    ModelSpec,
    StrategySpec,
    WorkloadSpec,
    format_validation_error,
)

METHODS = ("ulysses", "ring", "fastseq", "usp", "dsp")


class SpRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    workload: str
    method: str
    sp: int
    ulysses: int = 1
    ring: int = 1
    feasible: bool
    reason: str = ""
    step_time_s: float | None = None
    exposed_comm_s: float | None = None
    sp_exposed_comm_s: float | None = None
    comm_bytes_per_gpu_per_layer_fwd: float | None = None
    memory_gib_per_gpu: float | None = None
    fits: bool | None = None


def sp_strategy(*, method: str, sp: int, gpus: int, base: StrategySpec, ulysses: int = 1) -> StrategySpec:
    if gpus % sp:
        raise SpecError(f"--sp-degrees: {sp} does not divide --gpus {gpus}")
    extra = {"ulysses": ulysses, "ring": sp // ulysses} if method == "usp" else {"ulysses": 1, "ring": 1}
    fields = {**base.model_dump(), "sp": sp, "sp_method": method, "dp": gpus // sp, "tp": 1, "pp": 1, **extra}
    try:  # validated, so that a stack the method cannot run on (unfused + ring) is a reason
        return StrategySpec.model_validate(fields)
    except ValidationError as err:
        raise SpecError(format_validation_error(method, StrategySpec, err)) from None


def usp_splits(sp: int, gpus_per_node: int) -> list[int]:
    """USP's Ulysses degrees: every proper divisor split, Ulysses kept inside a node."""
    return [u for u in range(2, sp) if sp % u == 0 and u <= gpus_per_node]


def layer_fwd_bytes(model: ModelSpec, workload: WorkloadSpec, cluster: ClusterSpec, strategy: StrategySpec) -> float:
    """Per-GPU bytes sent by the SP collectives of one block's forward (the first block)."""
    inp = resolve(model, workload, cluster, strategy)
    shape = block_shape(inp, inp.cost.blocks[0])
    switches = dsp_switches_per_block(model).get(shape.block_type, 0) if strategy.sp_method == "dsp" else 0
    fwd, _ = block_calls(inp, shape, switches)
    sizes = group_sizes(strategy)
    sp_dims = ("sp", "ulysses", "ring")
    return sum(sent_bytes(c, sizes[c.dim]) * c.count for c in fwd if c.dim in sp_dims)


def compare_row(
    *, model: ModelSpec, workload: WorkloadSpec, cluster: ClusterSpec, strategy: StrategySpec, gpus: int
) -> SpRow:
    s = strategy
    head = dict(workload=workload.name, method=s.sp_method, sp=s.sp, ulysses=s.ulysses, ring=s.ring)
    try:
        pred = predict(model, workload, cluster, s, gpus)
        fwd_bytes = layer_fwd_bytes(model, workload, cluster, s)
    except SpecError as err:
        return SpRow(**head, feasible=False, reason=str(err))
    return SpRow(
        **head,
        feasible=pred.fits,
        reason="" if pred.fits else f"needs {pred.memory_gib_per_gpu:.1f} GiB per GPU",
        step_time_s=pred.step_time_s,
        exposed_comm_s=pred.breakdown.exposed_comm_s,
        sp_exposed_comm_s=pred.breakdown.exposed_comm_by_dim_s.get("sp", 0.0),
        comm_bytes_per_gpu_per_layer_fwd=fwd_bytes,
        memory_gib_per_gpu=pred.memory_gib_per_gpu,
        fits=pred.fits,
    )


def compare_sp(
    *,
    model: ModelSpec,
    workloads: list[WorkloadSpec],
    cluster: ClusterSpec,
    sp_degrees: list[int],
    gpus: int,
    base: StrategySpec,
) -> list[SpRow]:
    rows = []
    for workload in workloads:
        for sp in sp_degrees:
            for method in METHODS:
                splits = usp_splits(sp, cluster.gpus_per_node) if method == "usp" else [1]
                for u in splits:
                    try:
                        strategy = sp_strategy(method=method, sp=sp, gpus=gpus, base=base, ulysses=u)
                    except SpecError as err:
                        rows.append(SpRow(workload=workload.name, method=method, sp=sp, feasible=False, reason=str(err)))
                        continue
                    rows.append(compare_row(model=model, workload=workload, cluster=cluster, strategy=strategy, gpus=gpus))
    return rows


def crossovers(rows: list[SpRow]) -> list[str]:
    """Sentences naming where the fastest method changes as the SP degree (or workload) grows,
    and why (the per-layer bytes and the exposed SP seconds of the two methods)."""
    notes: list[str] = []
    best_prev: SpRow | None = None
    for key in _ordered_keys(rows):
        group = [r for r in rows if (r.workload, r.sp) == key and r.step_time_s is not None and r.fits]
        if not group:
            continue
        best = min(group, key=lambda r: r.step_time_s)
        if best_prev is not None and _label(best) != _label(best_prev):
            notes.append(_crossover_sentence(best_prev, best, rows))
        best_prev = best
    return notes


def _ordered_keys(rows: list[SpRow]) -> list[tuple[str, int]]:
    seen: dict[tuple[str, int], None] = {}
    for r in rows:
        seen.setdefault((r.workload, r.sp), None)
    return list(seen)


def _label(row: SpRow) -> str:
    return f"usp({row.ulysses}x{row.ring})" if row.method == "usp" else row.method


def _crossover_sentence(prev: SpRow, best: SpRow, rows: list[SpRow]) -> str:
    old_here = next(
        (r for r in rows if (r.workload, r.sp) == (best.workload, best.sp) and _label(r) == _label(prev)),
        None,
    )
    where = f"sp={best.sp}" + (f" ({best.workload})" if best.workload != prev.workload else "")
    if old_here is None:
        why = f"{_label(prev)} has no such split at sp={best.sp}"
    elif old_here.step_time_s is None or not old_here.fits:
        why = f"{_label(prev)} is infeasible here ({old_here.reason})"
    else:
        why = (
            f"{_label(best)} sends {best.comm_bytes_per_gpu_per_layer_fwd / 1e6:.1f} MB per layer "
            f"forward vs {old_here.comm_bytes_per_gpu_per_layer_fwd / 1e6:.1f} MB, and exposes "
            f"{best.sp_exposed_comm_s:.3g} s of SP communication per step vs {old_here.sp_exposed_comm_s:.3g} s"
        )
    return f"at {where} the fastest method changes from {_label(prev)} to {_label(best)}: {why}"


def summary(rows: list[SpRow]) -> list[str]:
    """The sentences under the table: the crossovers, where nothing fits, and, only when at
    least two degrees have a method that fits and it never changes, that it does not."""
    keys = _ordered_keys(rows)
    fitting = [k for k in keys if any(r.fits for r in rows if (r.workload, r.sp) == k)]
    if not fitting:
        return [_nothing_fits(rows)]
    several = len({w for w, _ in keys}) > 1
    missing = [f"sp={sp}" + (f" ({w})" if several else "") for w, sp in keys if (w, sp) not in fitting]
    notes = crossovers(rows)
    changes = bool(notes)
    if missing:
        notes.append(f"no method fits at {', '.join(missing)} (see the note column)")
    if not changes and len(fitting) > 1:
        best = min((r for r in rows if r.fits), key=lambda r: r.step_time_s)
        notes.append(f"the fastest method, {_label(best)}, is the same at every SP degree where "
                     "one fits")  # fmt: skip
    return notes


def _nothing_fits(rows: list[SpRow]) -> str:
    """No row fits: name the closest miss on memory (and what shrinks it), or the rules broken."""
    costed = [r for r in rows if r.memory_gib_per_gpu is not None]
    if not costed:
        reasons = list(dict.fromkeys(r.reason for r in rows))
        return "no method runs at any SP degree: " + "; ".join(reasons)
    closest = min(costed, key=lambda r: r.memory_gib_per_gpu)
    where = f"{_label(closest)} at sp={closest.sp}"
    return (f"no method fits in memory at any SP degree: the closest, {where}, needs "
            f"{closest.memory_gib_per_gpu:.1f} GiB per GPU; shard the model state (--zero 3), "
            "checkpoint activations (--ckpt full) or use more GPUs (--gpus)")  # fmt: skip
