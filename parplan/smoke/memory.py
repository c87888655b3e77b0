"""Will a smoke run fit in this machine's memory? Checked before any rank starts.

Every rank holds (parplan's own memory model, `parplan.cost.step.predict` on the smoke model's
specs, fp32, on the smoke cluster):
* the single-process reference (`model.reference_run`): the whole model on the whole batch
  (dp x micro_batch samples, one device): weights, grads and activations, plus the copy of the
  reference grads the check keeps (one more weights' worth);
* its own layout's part: weights, grads, activations and communication buffers (no optimizer
  state: smoke steps plain SGD);
* the Python process: torch + DeepSpeed imported, RUNTIME_BYTES.
Ranks share one machine, so the sum over ranks is compared with MemAvailable (/proc/meminfo).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from parplan.errors import SpecError
from parplan.smoke.config import SmokeConfig, to_specs
from parplan.specs import GIB, StrategySpec

# RSS of one process after `import torch, deepspeed` (torch 2.13 CPU, deepspeed 0.19.8):
# 241 MiB measured here with /proc/self/statm; rounded up for gloo's buffers.
RUNTIME_BYTES = 0.3 * GIB


class MemoryEstimate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reference_bytes: float  # per rank: the one-process reference run and its grads' copy
    layout_bytes: float  # per rank: the parallel layout's weights, grads, activations, buffers
    runtime_bytes: float  # per rank: the Python process with torch and DeepSpeed
    ranks: int

    @property
    def total_bytes(self) -> float:
        return self.ranks * (self.reference_bytes + self.layout_bytes + self.runtime_bytes)


def _live_bytes(cfg: SmokeConfig, *, strategy: StrategySpec, gpus: int) -> tuple[float, float]:
    """(weights + grads + activations + buffers, weights) of one device, SGD (no optimizer)."""
    from parplan.cost.step import predict
    from parplan.smoke.prediction import smoke_cluster

    model, workload, _ = to_specs(cfg.model_copy(update={"strategy": strategy}))
    memory = predict(model, workload, smoke_cluster(cfg), strategy, gpus).memory
    live = memory.weights_bytes + memory.grads_bytes + memory.activations_bytes
    return live + memory.buffers_bytes, memory.weights_bytes


def estimate_memory(cfg: SmokeConfig) -> MemoryEstimate:
    s = cfg.strategy
    whole = StrategySpec(micro_batch=s.dp * s.micro_batch)
    reference, weights = _live_bytes(cfg, strategy=whole, gpus=1)
    layout, _ = _live_bytes(cfg, strategy=s, gpus=cfg.nproc)
    return MemoryEstimate(reference_bytes=reference + weights, layout_bytes=layout,
                          runtime_bytes=RUNTIME_BYTES, ranks=cfg.nproc)  # fmt: skip


def available_bytes(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """MemAvailable, or None where /proc/meminfo does not say (then nothing is refused)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(cfg: SmokeConfig, *, available: float | None = None) -> MemoryEstimate:
    """SpecError, with the numbers, when the run would not fit; else the estimate."""
    est = estimate_memory(cfg)
    free = available if available is not None else available_bytes()
    if free is not None and est.total_bytes > free:
        per_rank = est.total_bytes / est.ranks
        raise SpecError(
            f"smoke would need ~{est.total_bytes / GIB:.1f} GiB ({est.ranks} ranks x "
            f"{per_rank / GIB:.2f} GiB: reference run {est.reference_bytes / GIB:.2f} + layout "
            f"{est.layout_bytes / GIB:.2f} + runtime {est.runtime_bytes / GIB:.2f}), but "
            f"{free / GIB:.1f} GiB is available; lower --tokens, --hidden, --blocks, "
            "--micro-batch or --nproc"
        )
    return est
