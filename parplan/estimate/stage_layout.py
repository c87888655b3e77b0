"""One bucket of a recipe stage on its layout: the published layout predicted as given (a fixed
`parallel:`), or the planner's best layout among those that keep the stage's constraints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from parplan.cost.records import BlockOption, Prediction
from parplan.cost.step import predict
from parplan.errors import SpecError
from parplan.plan.cost_model import default_cost_model
from parplan.plan.planner import plan
from parplan.specs import (
    ClusterSpec,
    ModelSpec,
    ParallelSpec,
    StackSpec,
    StrategySpec,
    WorkloadSpec,
    format_validation_error,
)

# StrategySpec fields a stage may pin for the planner (ckpt is applied to the ILP's items)
PINNED = ("dp", "tp", "sp", "pp", "vpp", "sp_method", "ulysses", "ring", "zero", "order",
          "micro_batch")  # fmt: skip


def expand_ckpt(ckpt: Any, model: ModelSpec, where: str) -> str | list[str]:
    """A mode, or one entry per block group (a mode, or blocks per mode in block order)."""
    if isinstance(ckpt, str):
        return ckpt
    if len(ckpt) != len(model.blocks):
        raise SpecError(f"{where}: parallel.ckpt has {len(ckpt)} entries; model {model.name} has "
                        f"{len(model.blocks)} block groups (one entry each)")  # fmt: skip
    modes: list[str] = []
    for group, entry in zip(model.blocks, ckpt, strict=True):
        counts = {entry: group.count} if isinstance(entry, str) else entry
        if sum(counts.values()) != group.count:
            raise SpecError(f"{where}: parallel.ckpt {entry} counts {sum(counts.values())} "
                            f"blocks; the {group.type} group has {group.count}")  # fmt: skip
        modes += [mode for mode, n in counts.items() for _ in range(n)]
    return modes


def fixed_strategy(
    *, parallel: ParallelSpec, model: ModelSpec, gpus: int, micro_batch: int,
    global_batch: int | None, stack: StackSpec, where: str,
) -> StrategySpec:  # fmt: skip
    """The stage's published layout: dp = GPUs / (tp sp pp); no accumulation unless the stage
    gives a global batch."""
    p = parallel
    model_parallel = p.tp * p.sp * p.pp
    if gpus % model_parallel or (p.dp is not None and p.dp * model_parallel != gpus):
        raise SpecError(f"{where}: dp*tp*sp*pp = {p.dp or '?'}*{p.tp}*{p.sp}*{p.pp} does not "
                        f"make the stage's {gpus} GPUs")  # fmt: skip
    dp = gpus // model_parallel
    fields = {k: v for k, v in p.given().items() if k not in ("ckpt", "micro_batch")}
    fields |= {"dp": dp, "sp_method": p.sp_method or ("none" if p.sp == 1 else None),
               "ckpt": expand_ckpt(p.ckpt, model, where), "micro_batch": micro_batch,
               "global_batch": global_batch or dp * micro_batch, "megatron_sp": p.tp > 1,
               "stack": stack}  # fmt: skip
    if fields["sp_method"] is None:
        raise SpecError(f"{where}: parallel.sp={p.sp} needs parallel.sp_method")
    try:
        return StrategySpec(**fields)
    except ValidationError as err:
        raise SpecError(format_validation_error(f"{where}: parallel", StrategySpec, err)) from None


class ConstrainedCost:
    """The real cost model, refusing the layouts that break a stage's `parallel:` keys (the
    search counts them as divisibility misses) and offering the ILP only the given ckpt."""

    def __init__(self, parallel: ParallelSpec, where: str) -> None:
        self.base = default_cost_model()
        self.pinned = {k: v for k, v in parallel.given().items() if k in PINNED}
        self.ckpt = parallel.ckpt
        self.where = where
        self.ckpt_per_group = self.base.ckpt_per_group
        if isinstance(self.ckpt, list) and not all(isinstance(e, str) for e in self.ckpt):
            raise SpecError(f"{where}: parallel.ckpt with block counts needs a fixed layout "
                            "(tp, sp, pp, zero): the planner picks counts itself")  # fmt: skip

    def _check(self, strategy: StrategySpec) -> None:
        for key, want in self.pinned.items():
            if getattr(strategy, key) != want:
                raise SpecError(f"{self.where}: parallel.{key}={want} (recipe constraint)")

    def _allowed(self, option: BlockOption) -> bool:
        if self.ckpt is None:
            return True
        mode = self.ckpt if isinstance(self.ckpt, str) else self.ckpt[option.group_index]
        return option.ckpt == mode

    def predict(self, model, workload, cluster, strategy, num_gpus=None) -> Prediction:  # noqa: ANN001
        self._check(strategy)
        return self.base.predict(model, workload, cluster, strategy, num_gpus)

    def block_options(self, model, workload, cluster, strategy, num_gpus=None, **shared):  # noqa: ANN001, ANN201
        self._check(strategy)
        options, fixed_s, fixed_b = self.base.block_options(model, workload, cluster, strategy,
                                                            num_gpus, **shared)  # fmt: skip
        return [o for o in options if self._allowed(o)], fixed_s, fixed_b

    def sp_block_options(self, model, workload, cluster, strategy, methods, num_gpus=None,  # noqa: ANN001, ANN201
                         cache=None):  # fmt: skip
        self._check(strategy)
        found = self.base.sp_block_options(model, workload, cluster, strategy, methods, num_gpus,
                                           cache=cache)  # fmt: skip
        return found.model_copy(update={"options": [o for o in found.options if self._allowed(o)]})

    def __getattr__(self, name: str) -> Any:  # the floors: lower bounds, valid for any subset
        if name == "base":  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.base, name)


PlannerProgress = Callable[[int, int], None]


def planned_prediction(
    *, model: ModelSpec, workload: WorkloadSpec, cluster: ClusterSpec, gpus: int,
    parallel: ParallelSpec, stack: StackSpec, where: str, progress: PlannerProgress | None,
) -> Prediction:  # fmt: skip
    """The planner's fastest layout that keeps the constraints, predicted (for its memory)."""
    result = plan(model=model, workload=workload, cluster=cluster, num_gpus=gpus, top_k=1,
                  stack=stack, cost_model=ConstrainedCost(parallel, where), progress=progress)  # fmt: skip
    if not result.plans:
        detail = (result.infeasible or {}).get("detail", "no feasible plan")
        raise SpecError(f"{where}: no layout on {gpus} GPUs fits: {detail}")
    return predict(model, workload, cluster, result.plans[0].strategy, gpus)


def fixed_prediction(
    *, model: ModelSpec, workload: WorkloadSpec, cluster: ClusterSpec, gpus: int,
    strategy: StrategySpec, where: str,
) -> Prediction:  # fmt: skip
    """The published layout as given; a micro-batch that does not fit is bad input."""
    found = predict(model, workload, cluster, strategy, gpus)
    if not found.fits:
        m = found.memory
        raise SpecError(
            f"{where}: micro_batch {strategy.micro_batch} does not fit: {m.total_bytes / 2**30:.1f}"
            f" GiB per GPU > {m.capacity_bytes / 2**30:.1f} GiB (activations "
            f"{m.activations_bytes / 2**30:.1f} GiB); lower micro_batch or checkpoint more blocks"
        )
    return found
