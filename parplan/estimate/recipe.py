"""A multi-stage training recipe: its stages one after another, each on its own `gpus:`, the
`--gpus` count, or, with a deadline, the smallest size of the planner's node grid on which the
stages without their own GPU count finish in time (docs/recipes.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parplan.errors import SpecError
from parplan.estimate.formulas import (
    SECONDS_PER_DAY,
    TRAIN_TO_FORWARD,
    Record,
    forward_flops_and_tokens,
)
from parplan.estimate.recipe_stage import (
    RecipeProgress,
    StageEstimate,
    StageInputs,
    estimate_stage,
    resolve_stage,
)
from parplan.estimate.training import DeadlineSizing, PlanRound
from parplan.plan.deadline import node_grid
from parplan.plan.emit import emit
from parplan.specs import ClusterSpec, RecipeSpec, StrategySpec


class RecipeTotal(Record):
    gpu_days: float
    wall_days: float
    cost: float | None


class RecipeEstimate(Record):
    stages: list[StageEstimate]
    total: RecipeTotal
    sizing: DeadlineSizing | None = None  # --deadline-days: the sizes tried (not in the JSON)


def estimate_recipe(
    recipe: RecipeSpec, *, cluster: ClusterSpec, gpus: int | None = None,
    deadline_days: float | None = None, cost_per_gpu_hour: float | None = None,
    with_failures: bool = True, async_checkpoint: bool | None = None,
    progress: RecipeProgress | None = None,
) -> RecipeEstimate:  # fmt: skip
    """Every stage on its own `gpus:`, else on `gpus`, else (with `deadline_days`) on the size
    that `recipe_for_deadline` finds."""
    stages = [resolve_stage(s, recipe) for s in recipe.stages]
    options = {"cluster": cluster, "price": cost_per_gpu_hour, "with_failures": with_failures,
               "async_checkpoint": async_checkpoint}  # fmt: skip
    report = progress or (lambda _what, _done, _total: None)
    if deadline_days is None:
        return run_stages(stages, gpus=gpus, options=options, report=report)
    if gpus is not None:
        raise SpecError("--gpus and --deadline-days exclude each other: give one")
    return recipe_for_deadline(stages, deadline_days=deadline_days, options=options,
                               report=report)  # fmt: skip


def run_stages(stages: list[StageInputs], *, gpus: int | None, options: dict[str, Any],
               report: RecipeProgress) -> RecipeEstimate:  # fmt: skip
    """Each stage on its own GPUs or `gpus`, one after another."""
    done, total, results = 0, sum(len(s.buckets) for s in stages), []
    for inputs in stages:
        count = inputs.stage.gpus or gpus
        if count is None:
            raise SpecError(f"{inputs.where}: no GPU count: give the stage gpus:, or --gpus, "
                            "or --deadline-days")  # fmt: skip
        if count > options["cluster"].num_gpus:
            raise SpecError(f"{inputs.where}: gpus {count} exceeds the cluster's "
                            f"{options['cluster'].num_gpus}")  # fmt: skip
        results.append(estimate_stage(inputs, gpus=count, report=report, done=done, total=total,
                                      **options))  # fmt: skip
        done += len(inputs.buckets)
    report("done", total, total)
    return RecipeEstimate(stages=results, total=_total(results, options["price"]))


def _total(stages: list[StageEstimate], price: float | None) -> RecipeTotal:
    return RecipeTotal(gpu_days=sum(s.gpu_days for s in stages),
                       wall_days=sum(s.wall_days for s in stages),
                       cost=None if price is None else sum(s.cost or 0.0 for s in stages))  # fmt: skip


# ----------------------------------------------------------------------------- deadline


def recipe_for_deadline(stages: list[StageInputs], *, deadline_days: float,
                        options: dict[str, Any], report: RecipeProgress) -> RecipeEstimate:  # fmt: skip
    """Stages with their own `gpus:` keep them and use up part of the deadline; the others share
    one size: the smallest of the planner's node grid on which they finish in the rest (`_size`)."""
    cluster = options["cluster"]
    free = [s for s in stages if not s.stage.gpus]
    fixed = run_stages([s for s in stages if s.stage.gpus], gpus=None, options=options,
                       report=report)  # fmt: skip
    left_s = (deadline_days - fixed.total.wall_days) * SECONDS_PER_DAY
    grid = [n * cluster.gpus_per_node for n in node_grid(cluster.nodes)]
    runs: dict[int, RecipeEstimate | str] = {}
    sizing = None
    if free and left_s > 0:
        sizing = _size(free, runs=runs, left_s=left_s, grid=grid, options=options, report=report)
    gpus = (sizing.plan_gpus if sizing else None) or grid[-1]
    if free and not isinstance(runs.get(gpus), RecipeEstimate):  # nothing met it: the whole cluster
        runs[gpus] = run_stages(free, gpus=gpus, options=options, report=report)
    done = {s.name: s for s in fixed.stages + (runs[gpus].stages if free else [])}
    ordered = [done[s.stage.name] for s in stages]
    return RecipeEstimate(stages=ordered, total=_total(ordered, options["price"]), sizing=sizing)


def _size(free: list[StageInputs], *, runs: dict[int, RecipeEstimate | str], left_s: float,
          grid: list[int], options: dict[str, Any], report: RecipeProgress) -> DeadlineSizing:  # fmt: skip
    """The smallest grid size on which the stages' wall days fit in `left_s`. No size below the
    GPUs the FLOPs need at 100% of peak can; from there, each size tried gives the MFU x goodput
    the stages reach, and the next size tried is the one that MFU needs (a fixed point, as the
    MFU falls slowly with size); once one meets the deadline, smaller sizes down to the bound are
    tried too, so the answer is the smallest that meets it wherever the curve is monotone
    between the bound and the answer (docs/recipes.md)."""
    peak = options["cluster"].gpu.peak_flop_per_s(free[0].buckets[0][2].precision)
    flops = sum(_stage_train_flops(s) for s in free)
    low = _at_least(flops / (peak * left_s), grid)

    def wall_s(k: int) -> float | None:
        if grid[k] not in runs:
            try:
                runs[grid[k]] = run_stages(free, gpus=grid[k], options=options, report=report)
            except SpecError as err:
                runs[grid[k]] = str(err)
        run = runs[grid[k]]
        return None if isinstance(run, str) else run.total.wall_days * SECONDS_PER_DAY

    k = low
    while (seconds := wall_s(k)) is None or seconds > left_s:
        needed = k + 1 if seconds is None else _at_least(grid[k] * seconds / left_s, grid)
        if k == len(grid) - 1:
            return _sizing(runs, grid, best=None, flops=flops, peak=peak, left_s=left_s)
        k = max(needed, k + 1)
    while k > low and (seconds := wall_s(k - 1)) is not None and seconds <= left_s:
        k -= 1
    return _sizing(runs, grid, best=grid[k], flops=flops, peak=peak, left_s=left_s)


def _at_least(gpus: float, grid: list[int]) -> int:
    """Index of the smallest grid size with >= `gpus` (the last if none has)."""
    return next((k for k, size in enumerate(grid) if size >= gpus), len(grid) - 1)


def _sizing(runs: dict[int, RecipeEstimate | str], grid: list[int], *, best: int | None,
            flops: float, peak: float, left_s: float) -> DeadlineSizing:  # fmt: skip
    rounds = []
    for gpus in sorted(runs):
        run = runs[gpus]
        if isinstance(run, str):
            rounds.append(PlanRound(gpus=gpus, mfu=None, gpus_needed=None, infeasible=run))
            continue
        mfu = flops / (peak * gpus * run.total.wall_days * SECONDS_PER_DAY)  # x goodput
        rounds.append(PlanRound(gpus=gpus, mfu=mfu, gpus_needed=flops / (peak * mfu * left_s)))
    chosen = next((r for r in rounds if r.gpus == best), None)
    return DeadlineSizing(
        planned_mfu=chosen.mfu if chosen else None, plan_gpus=best,
        plan={"gpus": best, "wall_days": runs[best].total.wall_days} if chosen else None,
        bottleneck=None, rounds=rounds, cluster_gpus=grid[-1],
        exceeds_cluster=best is None,
        infeasible=None if chosen else "no grid size meets the deadline",
    )  # fmt: skip


def _stage_train_flops(inputs: StageInputs) -> float:
    """Train FLOPs of a stage whose GPUs are sized: samples x the sample-weighted FLOPs per
    sample. A fixed layout's batch grows with its GPUs, so it must give samples."""
    stage = inputs.stage
    per_sample = sum(w * TRAIN_TO_FORWARD * forward_flops_and_tokens(inputs.model, shape)[0]
                     for _label, w, shape, _micro in inputs.buckets)  # fmt: skip
    if stage.samples is not None:
        return stage.samples * per_sample
    if stage.parallel.fixed:
        raise SpecError(f"{inputs.where}: iterations on a fixed layout cannot be sized for a "
                        "deadline (its samples grow with its GPUs): give samples or gpus:")  # fmt: skip
    batches = [stage.global_batch or shape.global_batch for _l, _w, shape, _m in inputs.buckets]
    weights = [w for _l, w, _s, _m in inputs.buckets]
    return stage.iterations / sum(w / b for w, b in zip(weights, batches, strict=True)) * per_sample


def emit_recipe(result: RecipeEstimate, recipe: RecipeSpec, *, cluster: ClusterSpec,
                directory: Path) -> list[Path]:  # fmt: skip
    """`plan --recipe --emit DIR`: one subfolder per stage with the launch files of the stage's
    heaviest bucket (the most step time); every bucket's micro-batch is listed in plan.yaml."""
    paths: list[Path] = []
    for stage, inputs in zip(result.stages, [resolve_stage(s, recipe) for s in recipe.stages],
                             strict=True):  # fmt: skip
        runs = stage.plan["buckets"]
        heaviest = max(runs, key=lambda b: b["draw_share"] * b["step_time_s"])
        shape = next(w for label, _w, w, _m in inputs.buckets if label == heaviest["bucket"])
        notes = [
            f"recipe {recipe.name} stage {stage.name}: bucket {heaviest['bucket']} "
            f"(the most step time); step {stage.step_time_s:.2f} s expected over the mix"
        ]
        notes += [f"bucket {b['bucket']}: micro_batch {b['strategy']['micro_batch']}, "
                  f"step {b['step_time_s']:.2f} s" for b in runs]  # fmt: skip
        paths += emit(directory=directory / stage.name, model=inputs.model, workload=shape,
                      cluster=cluster, num_gpus=stage.gpus, notes=notes,
                      strategy=StrategySpec.model_validate(heaviest["strategy"]))  # fmt: skip
    return paths
