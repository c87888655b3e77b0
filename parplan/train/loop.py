"""The training steps and what they measure, on every rank torchrun starts.

A step is one optimizer step: `gradient_accumulation_steps` micro-batches, each forward,
DeepSpeed backward and `engine.step()` (which steps the optimizer at the accumulation
boundary). Its time is the slowest rank's (all-reduce max), after a barrier and, on GPUs, a
synchronize; the first step is warm-up. Memory per rank: on GPUs the allocator's peak
(`torch.cuda.max_memory_allocated`), on CPU the growth of the process's peak RSS over its size
before the model was built. Data: one fixed random micro-batch per data-parallel rank (the
loss falls as the model fits it), split over the layout's ranks by the mixer like smoke's.
"""

from __future__ import annotations

import datetime
import json
import os
import resource
import statistics
import sys
import time
import warnings

import torch
import torch.distributed as dist

from parplan.errors import SpecError
from parplan.smoke.comm import build_grid
from parplan.smoke.config import IN_CHANNELS
from parplan.smoke.model import loss_fn
from parplan.smoke.parallel import implementation_of, init_deepspeed_comm
from parplan.train.engine import build_engine
from parplan.train.groups import ParplanMPU, one_rank_groups
from parplan.train.report import describe, step_line, summary_lines
from parplan.train.setup import RunSetup

GIB = 2**30
DEEPSPEED_DP = "deepspeed.initialize engine (ZeRO stage {zero}) over dp x sp via ParplanMPU"


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise SpecError(f"{name} is not set: run the trainer under torchrun (launch.sh does)")
    return int(value)


def _backend(choice: str) -> str:
    if choice == "auto":
        return "nccl" if torch.cuda.is_available() else "gloo"
    return choice


def run(setup: RunSetup) -> dict:
    """Train `setup.shape.steps` steps on this rank; rank 0 logs and returns the summary."""
    # DeepSpeed still calls the c10d names torch 2.13 deprecated: one warning per rank and call
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.distributed")
    rank, world = _env_int("RANK"), _env_int("WORLD_SIZE")
    if world != setup.shape.nproc:
        raise SpecError(f"torchrun started {world} ranks, but the plan has {setup.shape.nproc}")
    backend = _backend(setup.backend)
    device = torch.device(f"cuda:{_env_int('LOCAL_RANK')}" if backend == "nccl" else "cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)
    else:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # silences DeepSpeed's CPU warning
    timeout = datetime.timedelta(seconds=setup.shape.timeout_s)
    dist.init_process_group(backend, timeout=timeout)
    try:
        init_deepspeed_comm(backend)
        return _train(setup, rank, device)
    finally:
        dist.destroy_process_group()


def _train(setup: RunSetup, rank: int, device: torch.device) -> dict:
    s = setup.shape.strategy
    if rank == 0:
        print("\n".join(describe(setup)), flush=True)
    base_bytes = _memory_now(device)
    grid = build_grid(rank, s)
    mpu = ParplanMPU(grid, one_rank_groups(s.world_size)[rank])
    engine, mixer = build_engine(setup, grid, mpu, device)
    dtype = next(engine.module.parameters()).dtype
    batch = _micro_batch(setup, grid.dp_rank, device, dtype)
    x, target = mixer.shard(batch["x"]), mixer.shard(batch["target"])
    times, losses = [], []
    for step in range(setup.shape.steps):
        seconds, loss = _step(setup, engine, mixer, x, target, batch, device)
        times.append(_reduce(seconds, device, dist.ReduceOp.MAX))
        losses.append(_reduce(loss, device, dist.ReduceOp.SUM) / _loss_copies(setup))
        if rank == 0:
            print(step_line(step, setup, times[-1], losses[-1]), flush=True)
    memory = _reduce(_memory_peak(device) - base_bytes, device, dist.ReduceOp.MAX) / GIB
    summary = _summary(setup, times, losses, memory, device)
    if rank == 0:
        print("\n".join(summary_lines(summary)), flush=True)
        if setup.report is not None:
            setup.report.write_text(json.dumps(summary, indent=2) + "\n")
            print(f"wrote {setup.report}: the run's summary (JSON)", file=sys.stderr, flush=True)
    return summary


def _step(setup, engine, mixer, x, target, batch, device) -> tuple[float, float]:  # noqa: ANN001
    """One optimizer step: (seconds on this rank, this rank's summed loss)."""
    elements = target.shape[0] * setup.shape.tokens * IN_CHANNELS  # local losses add up
    dist.barrier()
    start = time.perf_counter()
    total = 0.0
    for _ in range(setup.accumulation):
        out = engine(x, batch["c"], batch["text"], mixer)
        loss = loss_fn(out.float(), target, elements)
        engine.backward(loss)
        engine.step()
        total += float(loss.detach())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, total / setup.accumulation


def _loss_copies(setup: RunSetup) -> int:
    """Ranks whose local losses sum to one sample's: plain TP replicates the output over tp."""
    s = setup.shape.strategy
    return s.dp * (s.tp if not s.megatron_sp else 1)


def _micro_batch(setup: RunSetup, dp_rank: int, device, dtype) -> dict:  # noqa: ANN001
    """One fixed random micro-batch of this data-parallel rank (same on its tp/sp ranks)."""
    cfg, micro = setup.shape, setup.ds_config["train_micro_batch_size_per_gpu"]
    g = torch.Generator().manual_seed(cfg.seed + 1 + dp_rank)
    shapes = {
        "x": (micro, cfg.tokens, IN_CHANNELS),
        "c": (micro, cfg.hidden),
        "text": (micro, max(cfg.text_tokens, 1), cfg.hidden),
        "target": (micro, cfg.tokens, IN_CHANNELS),
    }
    batch = {k: torch.randn(*shape, generator=g) for k, shape in shapes.items()}
    return {k: v.to(device, torch.float32 if k == "target" else dtype) for k, v in batch.items()}


def _reduce(value: float, device: torch.device, op) -> float:  # noqa: ANN001
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=op)
    return float(t.item())


def _memory_now(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _memory_peak(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _summary(setup: RunSetup, times, losses, memory_gib, device) -> dict:  # noqa: ANN001
    cfg, pred = setup.shape, setup.prediction
    measured = times[1:] or times
    return {
        "world_size": cfg.nproc,
        "tiny": setup.tiny,
        "shape": {k: getattr(cfg, k) for k in ("name", "blocks", "hidden", "heads", "tokens",
                                               "frames", "cross_attention", "precision")},
        "strategy": cfg.strategy.model_dump(mode="json"),
        "implementation": {**implementation_of(cfg), "dp": DEEPSPEED_DP.format(zero=cfg.strategy.zero)},
        "step_times_s": times,
        "step_time_s": statistics.median(measured),
        "step_time_predicted_s": pred.step_time_s,
        "memory_gib_per_rank": memory_gib,
        "memory_measured_as": "torch.cuda.max_memory_allocated" if device.type == "cuda"
        else "peak RSS growth after startup (CPU)",
        "memory_predicted_gib_per_gpu": pred.memory_gib_per_gpu,
        "memory_predicted_live_gib_per_gpu": pred.live_memory_gib_per_gpu,
        "prediction_source": pred.source,
        "losses": losses,
    }  # fmt: skip
