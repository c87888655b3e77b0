"""Spawn the ranks, supervise them, and turn their results into the smoke report.

Supervision: ranks are `torch.multiprocessing` spawn children rendezvousing through a file in a
private temp dir (no ports). The parent polls their exit codes: when one fails (exception or
signal) or the run passes `timeout_s`, every live rank is terminated (SIGTERM, then SIGKILL),
and `SmokeFailure` names the rank that failed first. No rank outlives `run_smoke`.
"""

from __future__ import annotations

import json
import signal
import statistics
import tempfile
import time
from pathlib import Path

from parplan.errors import SpecError
from parplan.smoke.config import SmokeConfig, validate
from parplan.smoke.memory import check_memory
from parplan.smoke.prediction import predicted_calls, predicted_step_time, predicted_table
from parplan.specs import GIB

POLL_S = 0.2
GRACE_S = 3.0


class SmokeFailure(RuntimeError):
    """A rank failed, died or hung; the message names it (the CLI exits 1)."""


def run_smoke(cfg: SmokeConfig) -> dict:
    """Validate and check memory (SpecError before any process starts), run `cfg.steps`
    steps, report."""
    validate(cfg)
    memory_note = _memory_note(cfg)
    import torch.multiprocessing as mp

    from parplan.smoke.worker import run_rank

    with tempfile.TemporaryDirectory(prefix="parplan-smoke-") as workdir:
        ctx = mp.start_processes(
            run_rank, args=(cfg, workdir), nprocs=cfg.nproc, join=False, start_method="spawn"
        )
        try:
            _supervise(ctx.processes, Path(workdir), cfg.timeout_s)
        finally:
            _terminate(ctx.processes)
        results = [
            json.loads((Path(workdir) / f"rank{r}.json").read_text()) for r in range(cfg.nproc)
        ]
    return summarize(cfg, results, notes=[memory_note])


def _memory_note(cfg: SmokeConfig) -> str:
    """SpecError when the run will not fit in memory (smoke.memory); else the estimate."""
    try:
        estimate = check_memory(cfg)
    except SpecError:
        raise
    except Exception as err:  # the cost model is another team's code: report, don't crash
        return f"memory not estimated ({type(err).__name__}: {err})"
    return f"memory estimate (parplan's memory model): {estimate.total_bytes / GIB:.2f} GiB"


def _supervise(processes: list, workdir: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        codes = [p.exitcode for p in processes]
        if any(code not in (None, 0) for code in codes):
            raise SmokeFailure(_diagnose(codes, workdir))
        if all(code == 0 for code in codes):
            return
        if time.monotonic() > deadline:
            running = [r for r, code in enumerate(codes) if code is None]
            raise SmokeFailure(f"timed out after {timeout_s:g} s; ranks still running: {running}")
        time.sleep(POLL_S)


def _diagnose(codes: list, workdir: Path) -> str:
    """Name the root cause: a rank killed by a signal, else the earliest rank to raise."""
    for rank, code in enumerate(codes):
        if code is not None and code < 0:
            return f"rank {rank} died ({signal.Signals(-code).name}); all ranks stopped"
    errors = []
    for path in workdir.glob("rank*.error"):
        data = json.loads(path.read_text())
        errors.append((data["time"], int(path.stem[4:]), data["traceback"]))
    if not errors:
        failed = [r for r, code in enumerate(codes) if code not in (None, 0)]
        return f"rank {failed[0]} exited with code {codes[failed[0]]}; all ranks stopped"
    _, rank, trace = min(errors)
    last = trace.strip().splitlines()[-1]
    return f"rank {rank} failed: {last}; all ranks stopped"


def _terminate(processes: list) -> None:
    for p in processes:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + GRACE_S
    for p in processes:
        p.join(max(deadline - time.monotonic(), 0.0))
        if p.is_alive():
            p.kill()
            p.join()


# ----------------------------------------------------------------------------------- report


def summarize(cfg: SmokeConfig, results: list[dict], *, notes: list[str] = ()) -> dict:
    """The JSON report: errors, bytes measured vs predicted, times, implementation."""
    from parplan.smoke.parallel import implementation_of

    calls, calls_note = predicted_calls(cfg)
    step_pred, time_note = predicted_step_time(cfg)
    per_step = [max(steps) for steps in zip(*(r["step_times_s"] for r in results), strict=True)]
    bytes_per_rank = [r["bytes"] for r in results]
    predicted = _predicted_bytes(calls)
    notes = [n for n in (calls_note, time_note, *notes) if n]
    unknown = sorted({op for r in results for op in r["unknown_c10d_ops"]})
    if unknown:
        notes.append(f"c10d ops not counted (unknown): {unknown}")
    return {
        "strategy": cfg.strategy.model_dump(mode="json"),
        "nproc": cfg.nproc,
        "model": {
            "blocks": list(cfg.blocks),
            "hidden": cfg.hidden,
            "heads": cfg.heads,
            "tokens": cfg.tokens,
            "frames": cfg.frames,
            "cross_attention": cfg.cross_attention,
        },  # fmt: skip
        "max_abs_err_output": max(r["max_abs_err_output"] for r in results),
        "max_abs_err_grad": max(r["max_abs_err_grad"] for r in results),
        "max_abs_grad": max(r["max_abs_grad"] for r in results),
        "bytes_measured": max(bytes_per_rank),
        "bytes_measured_per_rank": bytes_per_rank,
        "bytes_predicted": predicted,
        "bytes_match": predicted is not None and all(b == predicted for b in bytes_per_rank),
        "collectives_measured": results[0]["collectives"],
        "collectives_predicted": predicted_table(calls) if calls is not None else None,
        "step_time_measured_s": statistics.median(per_step[1:] or per_step),
        "step_times_s": per_step,
        "step_time_predicted_s": step_pred,
        "implementation": implementation_of(cfg),
        "notes": notes,
    }


def _predicted_bytes(calls) -> int | None:
    if calls is None:
        return None
    from parplan.cluster.comm_ops import payload_bytes

    total = sum(payload_bytes(call, size) for call, size in calls)
    return int(total) if float(total).is_integer() else total
