"""One search's inputs (`Context`) and its mutable state (`Search`: the top-k so far, counters,
the closest infeasibility, caches), with the keys that tell plans apart and break ties."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from parplan.cost.options import SharedWork
from parplan.cost.records import Prediction
from parplan.errors import Infeasible
from parplan.plan.ilp import (
    SolverName,
)
from parplan.plan.space import (
    OrderSpace,
    order_space_for,
)
from parplan.specs import ClusterSpec, ModelSpec, StackSpec, StrategySpec, WorkloadSpec


class Context(BaseModel):
    """The inputs of one search: what is planned, on how many GPUs, with which solver."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    model: ModelSpec
    workload: WorkloadSpec
    cluster: ClusterSpec
    num_gpus: int
    global_batch: int
    solver: SolverName
    orders: OrderSpace | Literal["auto"] = "auto"
    cost: Any  # CostModel
    stack: StackSpec = StackSpec()  # how the user's code runs a layout: not searched

    @property
    def capacity_bytes(self) -> float:
        return self.cluster.gpu.memory_bytes

    @property
    def order_space(self) -> OrderSpace:
        return order_space_for(self.num_gpus) if self.orders == "auto" else self.orders


Progress = Callable[[int, int], None]


def cache_kwargs(ctx: Context, search: Search) -> dict[str, Any]:
    """`cache=` for the cost model's calls when it shares sub-results (EvaluateCost does)."""
    return {"cache": search.shared} if getattr(ctx.cost, "shares_work", False) else {}


class Search:
    """Mutable state of one search: the top-k so far, counters, the closest infeasibility."""

    def __init__(
        self, *, top_k: int, ceiling_s: float = math.inf, shared: SharedWork | None = None
    ) -> None:
        self.top_k = top_k
        self.ceiling_s = ceiling_s  # deadline mode: only plans faster than this matter
        self.best: list[tuple[tuple, Prediction, float, dict[str, int]]] = []
        self.pruned: Counter[str] = Counter()
        self.evaluated = 0
        self.ilp_solves = 0
        self.closest: Infeasible | None = None
        self.shared = shared or SharedWork()  # sub-results the layouts share (cost/options.py)
        self.block_floors: dict[str, dict[str, float] | None] = {}  # by block type, per layout

    def bar_s(self) -> float:
        """Step time a new plan must beat to enter the top-k (the ceiling until k plans exist)."""
        kth = self.best[-1][1].step_time_s if len(self.best) >= self.top_k else math.inf
        return min(kth, self.ceiling_s)

    def note_infeasible(self, err: Infeasible, *, count: int = 1) -> None:
        self.pruned[err.binding] += count
        if self.closest is None or _closer(err, self.closest):
            self.closest = err

    def add(self, prediction: Prediction, ilp_s: float, ckpt_blocks: dict[str, int]) -> None:
        """Keep the k best distinct layouts: one entry per layout_key, its best order."""
        key = (round(prediction.step_time_s, 9), tie_key(prediction.strategy))
        same = layout_key(prediction.strategy)
        for k, entry in enumerate(self.best):
            if layout_key(entry[1].strategy) == same:
                if key >= entry[0]:
                    return
                del self.best[k]
                break
        self.best.append((key, prediction, ilp_s, ckpt_blocks))
        self.best.sort(key=lambda entry: entry[0])
        del self.best[self.top_k :]


def layout_key(s: StrategySpec) -> tuple:
    """What makes two plans different layouts: degrees, SP methods, ZeRO, micro-batch (not the
    rank order or the checkpoint list, which the planner solves for each layout)."""
    methods = tuple(sorted((s.sp_methods or {}).items()))
    return (s.dp, s.tp, s.sp, s.pp, s.vpp, s.zero, s.micro_batch, s.sp_method, methods,
            s.ulysses, s.ring)  # fmt: skip


def _closer(new: Infeasible, old: Infeasible) -> bool:
    rank = {"memory": 0, "batch": 1, "divisibility": 2}
    a = (rank.get(new.binding, 3), new.shortfall_gib or math.inf)
    b = (rank.get(old.binding, 3), old.shortfall_gib or math.inf)
    return a < b


def tie_key(s: StrategySpec) -> tuple:
    """Deterministic tie-break: simpler layouts first (fewer model-parallel GPUs, lower ZeRO)."""
    ckpt = s.ckpt if isinstance(s.ckpt, str) else ",".join(s.ckpt)
    return (
        s.tp * s.sp * s.pp,
        s.pp,
        s.tp,
        s.sp,
        s.zero,
        -s.micro_batch,
        s.vpp,
        s.sp_method,
        tuple(sorted((s.sp_methods or {}).items())),
        s.ulysses,
        ckpt,
        tuple(s.order),
    )
