"""The planner's interface to the cost model (`CostModel`; tests pass a fake) and the real one,
`EvaluateCost`: parplan.cost's predict and knapsack items, plus the floors the bounds use."""

from __future__ import annotations

import functools
from typing import Protocol

from parplan.cost import floors, options, step
from parplan.cost.records import BlockOption, Prediction
from parplan.specs import ClusterSpec, ModelSpec, StrategySpec, WorkloadSpec


class CostModel(Protocol):
    """What the planner needs from the cost model. Optional extras, used when present:
    `shape_compute` (the compute floor, the MFU bound), `block_floor_by_type_s`, `sp_block_options`,
    `floor_options` / `sp_floor_options` (the knapsack items with every collective at 0 s:
    an order-independent lower bound with the real memory), `ckpt_per_group`."""

    def predict(
        self,
        model: ModelSpec,
        workload: WorkloadSpec,
        cluster: ClusterSpec,
        strategy: StrategySpec,
        num_gpus: int | None = None,
    ) -> Prediction: ...

    def block_options(
        self,
        model: ModelSpec,
        workload: WorkloadSpec,
        cluster: ClusterSpec,
        strategy: StrategySpec,
        num_gpus: int | None = None,
    ) -> tuple[list[BlockOption], float, float]: ...


class EvaluateCost:
    """parplan.cost as the planner calls it."""

    # `ckpt` lists are one mode per block (SPEC_FORMAT), so the ILP may mix modes in a group.
    ckpt_per_group = False
    shares_work = True  # every call below but predict takes `cache=` (options.SharedWork)
    predict = staticmethod(step.predict)
    block_options = staticmethod(options.block_options)
    sp_block_options = staticmethod(options.sp_block_options)
    block_floor_by_type_s = staticmethod(floors.block_floor_by_type_s)
    shape_compute = staticmethod(floors.shape_compute)
    # the knapsack items with every collective at 0 s: the memory floor (plan/bounds.py)
    floor_options = staticmethod(functools.partial(options.block_options, timed=False))
    sp_floor_options = staticmethod(functools.partial(options.sp_block_options, timed=False))


def default_cost_model() -> CostModel:
    """The real cost model."""
    return EvaluateCost()
