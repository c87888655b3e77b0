"""What one rank does: build the model and the layout, check step 0 against one process, time K steps.

Every rank also runs the single-process reference on the full batch (the model is small), so
the check needs no gather: each rank compares its own output shard and gradient slice with the
matching slice of the reference. Results go to `rank<r>.json` in the run directory; a failure
writes `rank<r>.error` (time-stamped traceback) so the supervisor can name the first rank to fail.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import signal
import statistics
import time
import traceback
from pathlib import Path

import torch
import torch.distributed as dist

from parplan.smoke.comm import build_grid
from parplan.smoke.config import SmokeConfig
from parplan.smoke.counting import ByteCounter
from parplan.smoke.grads import GradSync
from parplan.smoke.model import build_model, loss_fn, make_batch, reference_run
from parplan.smoke.parallel import build_mixer, shard_for_tp

LEARNING_RATE = 1e-3


def run_rank(rank: int, cfg: SmokeConfig, workdir: str) -> None:
    """Entry point of each spawned process (torch.multiprocessing passes the rank first)."""
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    torch.set_num_threads(1)
    out_dir = Path(workdir)
    try:
        dist.init_process_group(
            cfg.backend,
            init_method=f"file://{out_dir / 'rendezvous'}",
            rank=rank,
            world_size=cfg.nproc,
            timeout=datetime.timedelta(seconds=cfg.timeout_s),
        )
        result = _run(rank, cfg)
        (out_dir / f"rank{rank}.json").write_text(json.dumps(result))
    except BaseException:
        error = {"time": time.time(), "traceback": traceback.format_exc()}
        (out_dir / f"rank{rank}.error").write_text(json.dumps(error))
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _batch_slice(batch: dict, dp_rank: int, micro: int) -> dict:
    return {k: v[dp_rank * micro : (dp_rank + 1) * micro] for k, v in batch.items()}


def _expected_grads(model: torch.nn.Module, ref_grads: dict) -> torch.Tensor:
    """The reference grads cut to this rank's parameter shapes (TP slices), flattened."""
    shards = getattr(model, "tp_shards", {})
    parts = []
    for name, _ in model.named_parameters():
        grad = ref_grads[name]
        if name in shards:
            dim, count, index = shards[name]
            grad = grad.chunk(count, dim=dim)[index]
        parts.append(grad.reshape(-1))
    return torch.cat(parts)


def _device(rank: int, backend: str) -> torch.device:
    """nccl: one GPU per rank (untested here: no multi-GPU machine); gloo: CPU."""
    if backend == "nccl":
        return torch.device(f"cuda:{rank % max(torch.cuda.device_count(), 1)}")
    return torch.device("cpu")


def _maybe_fail(cfg: SmokeConfig, rank: int, step: int) -> None:
    if cfg.fail_rank != rank or step != min(1, cfg.steps - 1):
        return
    if cfg.fail_mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise RuntimeError(f"injected failure on rank {rank} at step {step}")


def _run(rank: int, cfg: SmokeConfig) -> dict:
    s = cfg.strategy
    device = _device(rank, cfg.backend)
    grid = build_grid(rank, s)
    model = build_model(cfg)
    batch = make_batch(cfg)
    ref_out, ref_grads = reference_run(cfg, model, batch)
    local_model = copy.deepcopy(model)
    if s.tp > 1:
        local_model.tp_shards = shard_for_tp(local_model, grid)
    local_model.to(device)
    mixer = build_mixer(cfg, grid)
    mine = {k: v.to(device) for k, v in _batch_slice(batch, grid.dp_rank, s.micro_batch).items()}
    x, target = mixer.shard(mine["x"]), mixer.shard(mine["target"])
    text = mine["text"].requires_grad_(cfg.cross_attention)  # as if from a trainable embedder
    ref_mine = _batch_slice({"out": ref_out}, grid.dp_rank, s.micro_batch)["out"].to(device)
    sync = GradSync(local_model, grid, s.zero, replicated_over_tp=s.megatron_sp and s.tp > 1)
    counter = ByteCounter()
    times, errors = [], {}
    for step in range(cfg.steps):
        dist.barrier()
        start = time.perf_counter()
        with counter:
            counter.reset()
            counter.phase = "fwd"
            out = local_model(x, mine["c"], text, mixer)
            loss = loss_fn(out, target, ref_out.numel())
            _maybe_fail(cfg, rank, step)
            counter.phase = "bwd"
            loss.backward()
            sync.reduce(counter)
            if step == 0:
                errors = _errors(
                    out, mixer.shard(ref_mine), sync, _expected_grads(local_model, ref_grads)
                )
            sync.step(LEARNING_RATE)
        times.append(time.perf_counter() - start)
        local_model.zero_grad(set_to_none=True)
        text.grad = None
    return {
        "rank": rank,
        "coords": {"tp": grid.tp_rank, "sp": grid.sp_rank, "dp": grid.dp_rank},
        **errors,
        "bytes": counter.total_bytes,
        "collectives": counter.table(),
        "unknown_c10d_ops": sorted(counter.unknown),
        "step_times_s": times,
        "median_step_s": statistics.median(times[1:] or times),
    }


def _errors(out, expected_out, sync: GradSync, expected_flat: torch.Tensor) -> dict:
    grad_err = (sync.local_grads() - sync.expected_grads(expected_flat)).abs().max()
    return {
        "max_abs_err_output": float((out.detach() - expected_out).abs().max()),
        "max_abs_err_grad": float(grad_err),
        "max_abs_grad": float(expected_flat.abs().max()),
    }
