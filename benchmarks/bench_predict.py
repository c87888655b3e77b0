"""How long one `predict` call takes (the planner calls it thousands of times; goal <= 5 ms).

Prints the median over repeated calls for a few layouts, cold (first call: topology and group
caches empty) and warm. Run: python benchmarks/bench_predict.py
"""

from __future__ import annotations

import statistics
import time

from parplan.cost.step import predict
from parplan.specs import StrategySpec, load_cluster, load_model, load_workload

LAYOUTS = {
    "hunyuanvideo 64 GPUs ulysses8 zero3": (
        "hunyuanvideo", "video-720p-129f", 64,
        StrategySpec(dp=8, sp=8, sp_method="ulysses", zero=3, ckpt="full", global_batch=64),
    ),
    "hunyuanvideo 16384 GPUs usp 8x2 zero1": (
        "hunyuanvideo", "video-720p-129f", 16384,
        StrategySpec(dp=1024, sp=16, sp_method="usp", ulysses=8, ring=2, zero=1, ckpt="full",
                     global_batch=1024),
    ),
    "open-sora-2.0 1024 GPUs tp4 pp4 ring8": (
        "open-sora-2.0", "video-720p-129f", 1024,
        StrategySpec(dp=8, tp=4, pp=4, sp=8, sp_method="ring", zero=1, ckpt="selective",
                     megatron_sp=True, global_batch=128),
    ),
}  # fmt: skip


def time_calls(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    cluster = load_cluster("h100-dgx-ndr400")
    print(f"{'layout':42s} {'cold ms':>9s} {'warm median ms':>15s} {'warm p90 ms':>12s}")
    worst = 0.0
    for name, (model_name, workload_name, gpus, strategy) in LAYOUTS.items():
        model, workload = load_model(model_name), load_workload(workload_name)
        def call(m=model, w=workload, s=strategy, n=gpus):
            return predict(m, w, cluster, s, n)

        cold = time_calls(call, 1)[0]
        warm = sorted(time_calls(call, 200))
        print(f"{name:42s} {cold * 1e3:9.2f} {statistics.median(warm) * 1e3:15.3f} "
              f"{warm[int(0.9 * len(warm))] * 1e3:12.3f}")  # fmt: skip
        worst = max(worst, statistics.median(warm))
    print(f"predict: {worst * 1e3:.3f} ms per call (worst warm median; goal <= 5 ms: "
          f"{'met' if worst <= 5e-3 else 'NOT met'}); the first call also loads the kernel tables")


if __name__ == "__main__":
    main()
