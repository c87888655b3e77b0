"""Run published measurements through the cost model and report the step-time error honestly.

Format: ../shared/SPEC_FORMAT.md "Validation case". Step time is compared (not MFU: FLOP
conventions differ, ../shared/validation/README.md); tokens/s or samples/s per GPU are turned
into step time with the case's own batch and GPU count. A case whose features the model cannot
express is reported as skipped with the reason, never dropped.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from parplan.cost.step import predict
from parplan.errors import SpecError
from parplan.model.flop_conventions import step_flops
from parplan.model.geometry import token_geometry
from parplan.specs import (
    ModelSpec,
    StackSpec,
    ValidationCase,
    WorkloadSpec,
    load_cluster,
    load_model,
    load_validation_cases,
    load_workload,
)


class CaseResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    predicted_step_time_s: float | None
    measured_step_time_s: float | None
    rel_error: float | None  # (predicted - measured) / measured
    within_tolerance: bool | None
    tolerance: float
    skipped: str | None = None
    bottleneck: str | None = None
    predicted_memory_gib: float | None = None
    measured_memory_gib: float | None = None
    confidence: str | None = None
    stack: dict | None = None  # the case's strategy.stack where it states one (None: defaults)


class Summary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int
    skipped: int
    mape: float
    median_ape: float
    max_ape: float
    within_tolerance: int


class ValidationReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cases: list[CaseResult]
    summary: Summary


def measured_step_time_s(
    case: ValidationCase, *, model: ModelSpec, workload: WorkloadSpec, num_gpus: int
) -> float | None:
    """The measured step time, derived from throughput, or from TFLOP/s under the case's named
    FLOP convention (parplan/model/flop_conventions.py), when that is what the case gives."""
    m, batch = case.measured, case.strategy.global_batch or workload.global_batch
    if m.step_time_s:
        return m.step_time_s
    if m.samples_per_s_per_gpu:
        return batch / (m.samples_per_s_per_gpu * num_gpus)
    if m.tokens_per_s_per_gpu:
        tokens = token_geometry(model, workload).tokens
        return batch * tokens / (m.tokens_per_s_per_gpu * num_gpus)
    if m.tflops_per_gpu:
        if m.flops_convention is None:
            raise SpecError("measured.tflops_per_gpu needs measured.flops_convention (whose FLOPs?)")
        flops = step_flops(m.flops_convention, model, workload.seq_len, batch)
        return flops / (m.tflops_per_gpu * 1e12 * num_gpus)
    return None


def run_case(case: ValidationCase) -> CaseResult:
    """One case, with its own `strategy.stack`. Anything parplan cannot run (an unknown preset
    name, a feature it does not model) skips this case with the reason; the rest of the file
    still runs."""
    base: dict = dict(id=case.id, tolerance=case.tolerance, confidence=case.confidence)
    try:
        model, workload = load_model(case.model), load_workload(case.workload)
        cluster = load_cluster(case.cluster)
        num_gpus = case.num_gpus or cluster.num_gpus
        stack = case.strategy.stack
        base["stack"] = None if stack == StackSpec() else stack.model_dump()
        measured = measured_step_time_s(case, model=model, workload=workload, num_gpus=num_gpus)
        pred = predict(model, workload, cluster, case.strategy, num_gpus)
    except SpecError as err:
        return CaseResult(**base, predicted_step_time_s=None, measured_step_time_s=None,
                          rel_error=None, within_tolerance=None, skipped=str(err))
    if measured is None:
        return CaseResult(**base, predicted_step_time_s=pred.step_time_s, measured_step_time_s=None,
                          rel_error=None, within_tolerance=None, skipped="no step time or throughput measured")
    rel = (pred.step_time_s - measured) / measured
    return CaseResult(
        **base,
        predicted_step_time_s=pred.step_time_s,
        measured_step_time_s=measured,
        rel_error=rel,
        within_tolerance=abs(rel) <= case.tolerance,
        bottleneck=f"{pred.bottleneck.dim}: {pred.bottleneck.collective}",
        predicted_memory_gib=pred.memory_gib_per_gpu,
        measured_memory_gib=case.measured.peak_memory_gib,
    )


def validate(path: str | Path, progress=None) -> ValidationReport:
    """Every case of the file. A case that breaks SPEC_FORMAT (a typo, an unknown key) stops
    the run with a SpecError; one that parplan cannot run is reported as skipped."""
    results = []
    for case in load_validation_cases(path):
        results.append(run_case(case))
        if progress:
            progress(case.id)
    return ValidationReport(cases=results, summary=summarize(results))


def summarize(results: list[CaseResult]) -> Summary:
    errors = [abs(r.rel_error) for r in results if r.rel_error is not None]
    return Summary(
        n=len(errors),
        skipped=sum(r.skipped is not None for r in results),
        mape=statistics.fmean(errors) if errors else 0.0,
        median_ape=statistics.median(errors) if errors else 0.0,
        max_ape=max(errors, default=0.0),
        within_tolerance=sum(bool(r.within_tolerance) for r in results),
    )


def markdown(report: ValidationReport) -> str:
    """The committed docs/validation.md table."""
    lines = [
        "| case | measured step (s) | predicted (s) | error | tol | ok | bottleneck |",
        "|---|---:|---:|---:|---:|:---:|---|",
    ]
    for r in report.cases:
        if r.skipped:
            lines.append(f"| {r.id} | - | - | skipped: {r.skipped} | | | |")
            continue
        lines.append(
            f"| {r.id} | {r.measured_step_time_s:.4g} | {r.predicted_step_time_s:.4g} | "
            f"{r.rel_error:+.1%} | {r.tolerance:.0%} | {'yes' if r.within_tolerance else 'NO'} | "
            f"{r.bottleneck} |"
        )
    s = report.summary
    lines += [
        "",
        f"n = {s.n} (skipped {s.skipped}); MAPE {s.mape:.1%}, median APE {s.median_ape:.1%}, "
        f"max APE {s.max_ape:.1%}; within tolerance {s.within_tolerance}/{s.n}",
    ]
    return "\n".join(lines)
