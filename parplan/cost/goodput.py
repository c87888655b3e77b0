"""Goodput: the fraction of wall time that trains, once failures, restarts and checkpoint writes
are paid (the cluster's `reliability:` section, docs/spec_extensions.md).

A synchronous job stops on any GPU's failure, so failures arrive at N x (rate per GPU-hour)
(Poisson; Llama 3, arXiv 2407.21783 Sec. 3.3.4). Each failure costs the restart (reschedule,
re-initialise, read the checkpoint back) and the work since the last completed checkpoint. The
checkpoint is the model's training state as the memory model holds it (weights + optimizer
states, `MemoryBreakdown`), each GPU writing its own shard in parallel and replicated state split
among its replicas (as torch.distributed.checkpoint's de-duplicated save plan does). Lives in
cost/ (not estimate/) so that the planner's deadline mode can use it too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from parplan.cost.memory import model_state_bytes
from parplan.cost.records import MemoryBreakdown, Prediction
from parplan.cost.step import predict
from parplan.model.params import param_count
from parplan.specs import ClusterSpec, ModelSpec, ReliabilitySpec, StrategySpec, WorkloadSpec

SECONDS_PER_HOUR = 3_600.0
SECONDS_PER_DAY = 86_400.0


class Goodput(BaseModel):
    """`fraction` of wall time spent on useful training steps (1.0 without failures)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: float
    checkpoint_interval_s: float | None  # useful training between two checkpoints
    interruptions_per_day: float
    checkpoint_bytes: float  # the whole checkpoint, all GPUs' shards
    checkpoint_write_s: float  # one checkpoint, shards written in parallel
    restart_s: float  # restart + reading the checkpoint back
    lost_per_failure_s: float  # restart + the work since the last completed checkpoint
    mtbf_s: float | None  # mean time between the job's failures
    async_checkpoint: bool


def checkpoint_bytes_per_gpu(*, memory: MemoryBreakdown, strategy: StrategySpec) -> float:
    """Bytes one GPU writes: its weights and optimizer states, replicated state split among the
    dp x sp replicas that hold it (ZeRO shards over dp x sp: cost/memory.py)."""
    replicas = strategy.dp * strategy.sp
    weights = memory.weights_bytes / (1 if strategy.zero >= 3 else replicas)
    optimizer = memory.optimizer_bytes / (1 if strategy.zero >= 1 else replicas)
    return weights + optimizer


def young_daly_interval_s(*, write_s: float, mtbf_s: float) -> float:
    """Optimal compute time between checkpoints. Young 1974 (CACM 17(9)): sqrt(2 delta M);
    Daly 2006 (FGCS 22(3), higher-order estimate): sqrt(2 delta M) x (1 + sqrt(delta / 2M) / 3
    + (delta / 2M) / 9) - delta for delta < 2M, else M."""
    if write_s >= 2 * mtbf_s:
        return mtbf_s
    ratio = write_s / (2 * mtbf_s)
    young = math.sqrt(2 * write_s * mtbf_s)
    return young * (1 + math.sqrt(ratio) / 3 + ratio / 9) - write_s


def goodput(
    *,
    checkpoint_bytes_per_gpu: float,
    num_gpus: int,
    gpus_per_node: int,
    reliability: ReliabilitySpec,
) -> Goodput:
    """Goodput of a job on `num_gpus` GPUs, failures Poisson with mean M between them.
    Synchronous checkpoints every tau of training, each write delta blocking: Daly 2006's
    complete model (wall time M e^(R/M) (e^((tau + delta)/M) - 1) per tau of work, restarts
    that fail again included), fraction = tau / (M e^(R/M) (e^((tau + delta)/M) - 1)).
    Asynchronous: writes run behind training back to back (tau = delta); a failure keeps only
    the last completed snapshot, so a life of length X commits delta (floor(X / delta) - 1)+,
    in expectation delta e^(-2 delta/M) / (1 - e^(-delta/M)), over the same M e^(R/M) of wall.
    To first order both lose R + half a period + the write per failure (`lost_per_failure_s`)."""
    node_bytes = checkpoint_bytes_per_gpu * min(num_gpus, gpus_per_node)
    write_s = node_bytes / reliability.write_bytes_per_s_per_node
    restart_s = reliability.restart_s + node_bytes / reliability.read_bytes_per_s_per_node
    rate_per_s = reliability.failures_per_gpu_hour * num_gpus / SECONDS_PER_HOUR
    common = {
        "interruptions_per_day": rate_per_s * SECONDS_PER_DAY,
        "checkpoint_bytes": checkpoint_bytes_per_gpu * num_gpus,
        "checkpoint_write_s": write_s,
        "restart_s": restart_s,
        "async_checkpoint": reliability.async_checkpoint,
    }
    if rate_per_s == 0:
        return Goodput(fraction=1.0, checkpoint_interval_s=None, lost_per_failure_s=0.0,
                       mtbf_s=None, **common)  # fmt: skip
    m = 1 / rate_per_s
    life_s = m * math.exp(restart_s / m)  # wall time from one failure to the next, restarts too
    if reliability.async_checkpoint:
        interval_s, lost_s = write_s, restart_s + 1.5 * write_s
        work_s = write_s * math.exp(-2 * write_s / m) / -math.expm1(-write_s / m)
        fraction = work_s / life_s
    else:
        interval_s = young_daly_interval_s(write_s=write_s, mtbf_s=m)
        lost_s = restart_s + (interval_s + write_s) / 2
        fraction = interval_s / (life_s * math.expm1((interval_s + write_s) / m))
    return Goodput(fraction=fraction, checkpoint_interval_s=interval_s, lost_per_failure_s=lost_s,
                   mtbf_s=m, **common)  # fmt: skip


def no_failures(*, checkpoint_bytes: float = 0.0) -> Goodput:
    """`--no-failures`: every hour trains."""
    return Goodput(fraction=1.0, checkpoint_interval_s=None, interruptions_per_day=0.0,
                   checkpoint_bytes=checkpoint_bytes, checkpoint_write_s=0.0, restart_s=0.0,
                   lost_per_failure_s=0.0, mtbf_s=None, async_checkpoint=False)  # fmt: skip


def prediction_goodput(
    *, prediction: Prediction, cluster: ClusterSpec, with_failures: bool = True,
    async_checkpoint: bool | None = None,
) -> Goodput:  # fmt: skip
    """Goodput of a predicted layout on the cluster's `reliability` (async per the flag when
    given, else the cluster's key); `with_failures=False` is `--no-failures`."""
    per_gpu = checkpoint_bytes_per_gpu(memory=prediction.memory, strategy=prediction.strategy)
    if not with_failures:
        return no_failures(checkpoint_bytes=per_gpu * prediction.num_gpus)
    reliability = cluster.reliability
    if async_checkpoint is not None:
        reliability = reliability.model_copy(update={"async_checkpoint": async_checkpoint})
    return goodput(checkpoint_bytes_per_gpu=per_gpu, num_gpus=prediction.num_gpus,
                   gpus_per_node=cluster.gpus_per_node, reliability=reliability)  # fmt: skip


def strategy_goodput(
    *, model: ModelSpec, workload: WorkloadSpec, cluster: ClusterSpec, strategy: StrategySpec,
    num_gpus: int, with_failures: bool = True, async_checkpoint: bool | None = None,
) -> Goodput:  # fmt: skip
    """Goodput of a layout (one `predict` for its memory breakdown)."""
    found = predict(model, workload, cluster, strategy, num_gpus)
    return prediction_goodput(prediction=found, cluster=cluster, with_failures=with_failures,
                              async_checkpoint=async_checkpoint)  # fmt: skip


def sizing_goodput(
    *, model: ModelSpec, workload: WorkloadSpec, cluster: ClusterSpec, with_failures: bool = True,
    async_checkpoint: bool | None = None,
) -> Callable[[int], float]:  # fmt: skip
    """Goodput as a function of the GPU count alone, for deadline sizing before any layout is
    chosen: the whole training state (weights + optimizer states, memory.py's bytes per
    parameter) written as N equal shards, as a fully sharded checkpoint is. The chosen layout's
    own goodput (`strategy_goodput`) is what the plan then reports; the two differ only by the
    TP-replicated parameters a layout writes more than once."""
    if not with_failures:
        return lambda _gpus: 1.0
    states = model_state_bytes(params_per_gpu=param_count(model), precision=workload.precision,
                               zero=0, shard_group=1)  # fmt: skip
    state_bytes = states.weights_bytes + states.optimizer_bytes
    reliability = cluster.reliability
    if async_checkpoint is not None:
        reliability = reliability.model_copy(update={"async_checkpoint": async_checkpoint})

    def fraction(gpus: int) -> float:
        return goodput(checkpoint_bytes_per_gpu=state_bytes / gpus, num_gpus=gpus,
                       gpus_per_node=cluster.gpus_per_node, reliability=reliability).fraction  # fmt: skip

    return fraction
