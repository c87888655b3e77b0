"""One stage of a recipe: every bucket on its layout (estimate/stage_layout.py), the mix's
expected step (estimate/bucket_mix.py), steps and samples, goodput under failures
(cost/goodput.py), wall days, GPU-days and cost (docs/recipes.md)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

from parplan.cost.goodput import Goodput, prediction_goodput
from parplan.cost.records import Prediction
from parplan.estimate.bucket_mix import draw_shares, expected_step_s, samples_per_step
from parplan.estimate.formulas import (
    SECONDS_PER_DAY,
    TRAIN_TO_FORWARD,
    Record,
    forward_flops_and_tokens,
)
from parplan.estimate.stage_layout import fixed_prediction, fixed_strategy, planned_prediction
from parplan.specs import (
    ClusterSpec,
    ModelSpec,
    RecipeSpec,
    StackSpec,
    StageSpec,
    WorkloadSpec,
    load_model,
    load_workload,
)

# progress(description, done, total): one unit per bucket, across the stages
RecipeProgress = Callable[[str, int, int | None], None]


class BucketRun(Record):
    """One bucket on its layout: what a step costs when every rank runs it."""

    bucket: str
    weight: float  # share of the stage's samples
    draw_share: float  # share of micro-batches (per_rank) or steps (per_step)
    batch: float  # samples in a step of only this bucket
    step_time_s: float
    mfu: float
    memory_gib_per_gpu: float
    train_flops_per_sample: float
    strategy: dict
    bottleneck: dict


class StageEstimate(Record):
    name: str
    gpus: int
    iterations: float
    samples: float
    step_time_s: float
    goodput: Goodput
    wall_days: float
    gpu_days: float
    cost: float | None
    plan: dict  # the buckets' layouts, the draw rule, samples per step, MFU
    bottleneck: dict  # of the bucket that takes most of the stage's time


class StageInputs(Record):
    """A stage resolved: its model, its buckets as workloads, its stack."""

    stage: StageSpec
    model: ModelSpec
    buckets: list[tuple[str, float, WorkloadSpec, int | None]]  # label, weight, shape, micro
    stack: StackSpec
    where: str


def resolve_stage(stage: StageSpec, recipe: RecipeSpec) -> StageInputs:
    where = f"recipe '{recipe.name}' stage '{stage.name}'"
    model = load_model(stage.model or recipe.model)
    stack = stage.stack or recipe.stack or StackSpec()
    if stage.workload is not None:
        shape = load_workload(stage.workload)
        update = {k: v for k, v in (("precision", stage.precision),
                                    ("online_encoding", stage.online_encoding)) if v is not None}  # fmt: skip
        buckets = [(shape.name, 1.0, shape.model_copy(update=update), stage.parallel.micro_batch)]
    else:
        buckets = [(b.label, b.weight, _bucket_workload(b, stage, recipe), b.micro_batch)
                   for b in stage.buckets or []]  # fmt: skip
    return StageInputs(stage=stage, model=model, buckets=buckets, stack=stack, where=where)


def _bucket_workload(bucket, stage: StageSpec, recipe: RecipeSpec) -> WorkloadSpec:  # noqa: ANN001
    encoding = stage.online_encoding if stage.online_encoding is not None else recipe.online_encoding
    return WorkloadSpec(name=bucket.label, kind="video" if bucket.frames > 1 else "image",
                        frames=bucket.frames, height=bucket.height, width=bucket.width,
                        precision=stage.precision or recipe.precision,
                        online_encoding=list(encoding), global_batch=stage.global_batch or 1)  # fmt: skip


def bucket_prediction(
    inputs: StageInputs, *, workload: WorkloadSpec, micro_batch: int | None, cluster: ClusterSpec,
    gpus: int, progress: Callable[[int, int], None] | None,
) -> Prediction:  # fmt: skip
    stage, where = inputs.stage, f"{inputs.where} bucket '{workload.name}'"
    if stage.parallel.fixed:
        strategy = fixed_strategy(parallel=stage.parallel, model=inputs.model, gpus=gpus,
                                  micro_batch=micro_batch or 1, global_batch=stage.global_batch
                                  if stage.workload else None, stack=inputs.stack, where=where)  # fmt: skip
        return fixed_prediction(model=inputs.model, workload=workload, cluster=cluster, gpus=gpus,
                                strategy=strategy, where=where)  # fmt: skip
    if stage.global_batch is not None:
        workload = workload.model_copy(update={"global_batch": stage.global_batch})
    return planned_prediction(model=inputs.model, workload=workload, cluster=cluster, gpus=gpus,
                              parallel=stage.parallel, stack=inputs.stack, where=where,
                              progress=progress)  # fmt: skip


def _bucket_run(label: str, weight: float, workload: WorkloadSpec, model: ModelSpec,
                found: Prediction) -> BucketRun:  # fmt: skip
    forward, _tokens = forward_flops_and_tokens(model, workload)
    return BucketRun(bucket=label, weight=weight, draw_share=0.0,
                     batch=float(found.strategy.global_batch or workload.global_batch),
                     step_time_s=found.step_time_s, mfu=found.mfu,
                     memory_gib_per_gpu=found.memory_gib_per_gpu,
                     train_flops_per_sample=TRAIN_TO_FORWARD * forward,
                     strategy=found.strategy.model_dump(mode="json"),
                     bottleneck=found.bottleneck.model_dump(mode="json"))  # fmt: skip


def estimate_stage(
    inputs: StageInputs, *, cluster: ClusterSpec, gpus: int, price: float | None,
    with_failures: bool, async_checkpoint: bool | None, report: RecipeProgress, done: int,
    total: int | None,
) -> StageEstimate:  # fmt: skip
    """Every bucket on `gpus` GPUs, then the mix: expected step, steps, samples, goodput."""
    runs, goodputs = [], []
    for k, (label, weight, workload, micro) in enumerate(inputs.buckets):
        text = f"{inputs.stage.name}: {label} on {gpus:,} GPUs"
        report(text, done + k, total)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # padding notes: a bucket's shape is the user's choice
            found = bucket_prediction(inputs, workload=workload, micro_batch=micro,
                                      cluster=cluster, gpus=gpus, progress=None)  # fmt: skip
        runs.append(_bucket_run(label, weight, workload, inputs.model, found))
        goodputs.append(prediction_goodput(prediction=found, cluster=cluster,
                                           with_failures=with_failures,
                                           async_checkpoint=async_checkpoint))  # fmt: skip
    return _mix(inputs, runs, min(goodputs, key=lambda g: g.fraction), gpus=gpus, price=price)


def _mix(inputs: StageInputs, runs: list[BucketRun], goodput: Goodput, *, gpus: int,
         price: float | None) -> StageEstimate:  # fmt: skip
    stage = inputs.stage
    weights, batches = [r.weight for r in runs], [r.batch for r in runs]
    shares = draw_shares(weights=weights, batches=batches)
    runs = [r.model_copy(update={"draw_share": q}) for r, q in zip(runs, shares, strict=True)]
    draw = stage.bucket_draw or ("per_rank" if runs[0].strategy["micro_batch"] and
                                 stage.buckets and stage.parallel.fixed else "per_step")  # fmt: skip
    ranks = runs[0].strategy["dp"]
    step_s = expected_step_s(times_s=[r.step_time_s for r in runs], shares=shares, draw=draw,
                             ranks=ranks)  # fmt: skip
    per_step = samples_per_step(weights=weights, batches=batches)
    iterations = stage.iterations or stage.samples / per_step
    samples = stage.samples or stage.iterations * per_step
    flops = sum(q * r.batch * r.train_flops_per_sample for q, r in zip(shares, runs, strict=True))
    wall_days = iterations * step_s / SECONDS_PER_DAY / max(goodput.fraction, 1e-9)
    heaviest = max(runs, key=lambda r: r.draw_share * r.step_time_s)
    plan = {"model": inputs.model.name, "bucket_draw": draw, "ranks_drawing": ranks,
            "samples_per_step": per_step, "flops_per_step": flops,
            "mfu": _mix_mfu(runs, flops=flops, step_s=step_s),
            "buckets": [r.model_dump() for r in runs]}  # fmt: skip
    return StageEstimate(name=stage.name, gpus=gpus, iterations=iterations, samples=samples,
                         step_time_s=step_s, goodput=goodput, wall_days=wall_days,
                         gpu_days=wall_days * gpus, plan=plan, bottleneck=heaviest.bottleneck,
                         cost=None if price is None else wall_days * gpus * 24 * price)  # fmt: skip


def _mix_mfu(runs: list[BucketRun], *, flops: float, step_s: float) -> float:
    """Model FLOPs of the expected step over its time, from each bucket's own MFU (which carries
    the peak): MFU_b = flops_b / (t_b x GPUs x peak)."""
    r = runs[0]
    gpus_x_peak = r.batch * r.train_flops_per_sample / (r.step_time_s * r.mfu)
    return flops / (step_s * gpus_x_peak)

