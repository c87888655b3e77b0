"""Measure this machine as `parplan smoke` uses it and write the cluster spec the cost model reads.

A smoke rank is one process with one thread; N ranks share the machine's cores (4 ranks on a
2-core box get about half a core each). So every rate here is measured **on N processes running
the same measurement at once**, exactly as smoke runs, and the "device" of the spec is one rank.
Each quantity is the median over ranks of the median over repeats. Constants (few, physical;
DESIGN.md "Calibration constants must be few"; no per-layout term):

* `gpu.peak_tflops.fp32`: the best concurrent rate seen: square matmuls, and the two smoke-shape
  rates below (no datasheet for a share of a core; on a loaded box the square matmuls may be
  timed slower, and a fraction above 1 would be clipped); `bf16`: a bf16 square matmul.
* `efficiency.gemm_max`: the rate of `nn.Linear` forward + backward (3 x 2mnk FLOPs) at the smoke
  model's shapes (tokens per rank x hidden -> hidden / 4 hidden, and 4 hidden -> hidden) / peak.
* `efficiency.attention_max`: fused SDPA (`scaled_dot_product_attention`, the CPU flash kernel)
  forward + backward at the smoke shape (one rank's heads over the full sequence), FLOPs counted
  as the cost model counts them (forward 4·q·kv·d_head per head, backward 2.5x the forward),
  / peak: the flat fraction the cost model uses where no published attention table applies.
* `gpu.hbm_gbyte_per_s`: copy bandwidth (read + write) of a 32 MiB tensor per rank, concurrent;
  `efficiency.hbm` = 1.0 (the number is already achieved bandwidth).
* `efficiency.kernel_overhead_us`: wall time per eager op of a chain of small elementwise ops
  with autograd, forward + backward, divided by the number of aten ops the dispatcher saw.
* `intra_node.latency_us`, `gbyte_per_s_per_gpu`: alpha-beta least-squares fit of the **marginal**
  cost of each gloo collective inside a compute stream: every rank loops [GEMM chunk; collective]
  and the same loop without the collective is subtracted. On an oversubscribed box the ranks
  drift apart while computing, so a collective costs more there than back to back; the marginal
  cost is what a smoke step pays. t = alpha·steps(op, p) + sent(op, p)/bw with the ring step
  counts of the cost model (all-reduce 2(p-1), all-gather / reduce-scatter / all-to-all p-1,
  P2P ring step 1) and `comm_ops.sent_bytes`, weighted by 1/t (relative error).
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict

from parplan.cluster.comm_ops import CollectiveCall, sent_bytes
from parplan.cost.attention import FLASH_BWD_OVER_FWD
from parplan.specs import ClusterSpec, parse_spec

COLLECTIVE_OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "p2p_ring")


class Plan(BaseModel):
    """What to measure: the smoke shapes and how much repetition (quick=True for tests)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nproc: int
    hidden: int = 256
    heads: int = 4
    tokens: int = 2048
    peak_shapes: tuple[int, ...] = (512, 1024)  # square matmuls for the peak
    bf16_shape: int = 512
    collective_sizes: tuple[int, ...] = (4096, 65536, 524288, 4 * 2**20)  # bytes per rank
    compute_chunk_flop: float = 1.0e9  # GEMM work between two collectives (~25 ms per rank)
    repeats: int = 3
    rounds: int = 3  # interleaved rounds of the compute measurements
    loop: int = 4  # iterations per timed collective loop
    copy_bytes: int = 32 * 2**20
    chain_ops: int = 200

    @classmethod
    def quick(cls, nproc: int) -> Plan:
        return cls(nproc=nproc, peak_shapes=(512,), collective_sizes=(65536, 524288),
                   repeats=3, rounds=1, loop=3, copy_bytes=8 * 2**20, chain_ops=100)  # fmt: skip

    @property
    def rows(self) -> int:
        """Tokens per rank (the sequence-parallel shard)."""
        return max(self.tokens // self.nproc, 1)


MIN_SAMPLE_S = 0.2  # each timed sample spans many scheduler slices (ranks share the cores)


def _median_s(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds per call over `repeats` samples of >= MIN_SAMPLE_S each."""
    start = time.perf_counter()
    fn()  # warm-up, and the loop length
    calls = max(1, int(MIN_SAMPLE_S / max(time.perf_counter() - start, 1e-6)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


# ------------------------------------------------------------------------- per-rank measurements


def measure_matmul(n: int, dtype, repeats: int) -> float:
    """FLOP/s of an (n, n) @ (n, n) matmul on this thread."""
    import torch

    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / _median_s(lambda: a @ b, repeats)


def linear_shapes(plan: Plan) -> list[tuple[int, int, int]]:
    """(rows, in, out) of the smoke block's Linears: q/k/v/out, fc1, fc2."""
    d = plan.hidden
    return [(plan.rows, d, d), (plan.rows, d, 4 * d), (plan.rows, 4 * d, d)]


def measure_linear(plan: Plan) -> float:
    """FLOP/s of nn.Linear forward + backward (dX and dW: 3 x 2mnk) at the smoke shapes."""
    import torch

    total_flop, total_s = 0.0, 0.0
    for rows, fan_in, fan_out in linear_shapes(plan):
        layer = torch.nn.Linear(fan_in, fan_out)
        x = torch.randn(rows, fan_in, requires_grad=True)
        total_s += _median_s(lambda layer=layer, x=x: layer(x).sum().backward(), plan.repeats)
        total_flop += 3 * 2 * rows * fan_in * fan_out
    return total_flop / total_s


def attention_shape(plan: Plan) -> tuple[int, int, int]:
    """(heads, sequence, head dim) one rank attends in Ulysses: heads/N heads, full sequence."""
    return max(plan.heads // plan.nproc, 1), plan.tokens, plan.hidden // plan.heads


def measure_attention(plan: Plan) -> float:
    """Cost-model FLOP/s of SDPA forward + backward: (1 + 2.5) x 4·n²·dh per head."""
    import torch
    import torch.nn.functional as F

    heads, n, dh = attention_shape(plan)
    q, k, v = (torch.randn(1, heads, n, dh, requires_grad=True) for _ in range(3))
    seconds = _median_s(
        lambda: F.scaled_dot_product_attention(q, k, v).sum().backward(), plan.repeats
    )
    return (1 + FLASH_BWD_OVER_FWD) * 4 * heads * n * n * dh / seconds


def measure_copy(plan: Plan) -> float:
    """Bytes/s of a large fp32 copy, read + write."""
    import torch

    src = torch.randn(plan.copy_bytes // 4)
    dst = torch.empty_like(src)
    return 2 * plan.copy_bytes / _median_s(lambda: dst.copy_(src), plan.repeats)


def measure_op_overhead(plan: Plan) -> dict:
    """Seconds per eager aten op: a chain of small muls with autograd, forward + backward."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    x = torch.randn(64, requires_grad=True)
    w = torch.randn(64)

    def chain() -> None:
        y = x
        for _ in range(plan.chain_ops):
            y = y * w
        y.sum().backward()
        x.grad = None

    class Count(TorchDispatchMode):
        ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.ops += 1
            return func(*args, **(kwargs or {}))

    with Count():
        chain()
    seconds = _median_s(chain, plan.repeats)
    return {"seconds_per_op": seconds / Count.ops, "ops": Count.ops}


def _collective(op: str, nbytes: int, p: int) -> Callable[[], None]:
    """One call of `op` where each rank hands in `nbytes` (comm_ops payload convention)."""
    import torch
    import torch.distributed as dist

    x = torch.ones(nbytes // 4)
    rank = dist.get_rank()
    if op == "all_reduce":
        return lambda: dist.all_reduce(x)
    if op == "all_gather":
        out = torch.empty(p * x.numel())
        return lambda: dist.all_gather_into_tensor(out, x)
    if op == "reduce_scatter":
        out = torch.empty(x.numel() // p)
        return lambda: dist.reduce_scatter_tensor(out, x)
    if op == "all_to_all":
        out = torch.empty_like(x)
        return lambda: dist.all_to_all_single(out, x)
    recv = torch.empty_like(x)

    def ring_step() -> None:
        works = [dist.isend(x, (rank + 1) % p), dist.irecv(recv, (rank - 1) % p)]
        for work in works:
            work.wait()

    return ring_step


def measure_collectives(plan: Plan) -> list[dict]:
    """Marginal seconds of each op x size inside a compute stream (see module docstring)."""
    import torch
    import torch.distributed as dist

    n = max(int(round((plan.compute_chunk_flop / 2) ** (1 / 3))), 64)
    a, b = torch.randn(n, n), torch.randn(n, n)

    def timed(fn: Callable[[], None] | None) -> float:
        dist.barrier()
        start = time.perf_counter()
        for _ in range(plan.loop):
            a @ b
            if fn is not None:
                fn()
        return (time.perf_counter() - start) / plan.loop

    rows = []
    for op in COLLECTIVE_OPS:
        for nbytes in plan.collective_sizes:
            fn = _collective(op, nbytes, plan.nproc)
            fn()
            diffs = [timed(fn) - timed(None) for _ in range(plan.repeats)]
            rows.append({"op": op, "bytes": nbytes, "seconds": statistics.median(diffs)})
    return rows


def _rank_worker(rank: int, plan: Plan, workdir: str) -> None:
    """Every rank measures the same things at the same time (barriers between measurements)."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{workdir}/rendezvous", rank=rank,
                            world_size=plan.nproc)  # fmt: skip
    out: dict = {}
    rounds: dict[str, list[float]] = {}
    measurements = {
        **{f"matmul_fp32_{n}": lambda n=n: measure_matmul(n, torch.float32, plan.repeats)
           for n in plan.peak_shapes},
        f"matmul_bf16_{plan.bf16_shape}":
            lambda: measure_matmul(plan.bf16_shape, torch.bfloat16, plan.repeats),
        "linear_fwd_bwd": lambda: measure_linear(plan),
        "attention_fwd_bwd": lambda: measure_attention(plan),
    }  # fmt: skip
    try:
        # Rounds interleave the quantities, so a burst of load from other jobs on a shared box
        # hits one round of each rather than all repeats of one; the median over rounds is kept.
        for _ in range(plan.rounds):
            for key, fn in measurements.items():
                dist.barrier()
                rounds.setdefault(key, []).append(fn())
        out.update({key: statistics.median(values) for key, values in rounds.items()})
        dist.barrier()
        out["copy_bytes_per_s"] = measure_copy(plan)
        dist.barrier()
        out["op_overhead"] = measure_op_overhead(plan)
        out["collectives"] = measure_collectives(plan)
        Path(workdir, f"rank{rank}.json").write_text(json.dumps(out))
    finally:
        dist.destroy_process_group()


def measure(plan: Plan, timeout_s: float = 600.0) -> dict:
    """Run the measurements on `plan.nproc` ranks; medians over ranks."""
    import torch.multiprocessing as mp

    from parplan.smoke.runner import _supervise, _terminate

    with tempfile.TemporaryDirectory(prefix="parplan-calibrate-") as workdir:
        ctx = mp.start_processes(_rank_worker, args=(plan, workdir), nprocs=plan.nproc,
                                 join=False, start_method="spawn")  # fmt: skip
        try:
            _supervise(ctx.processes, Path(workdir), timeout_s)
        finally:
            _terminate(ctx.processes)
        ranks = [json.loads(Path(workdir, f"rank{r}.json").read_text()) for r in range(plan.nproc)]
    return merge_ranks(ranks)


def merge_ranks(ranks: list[dict]) -> dict:
    """Median over ranks of every scalar (and of every collective row's seconds)."""
    merged: dict = {}
    for key, value in ranks[0].items():
        if isinstance(value, (int, float)):
            merged[key] = statistics.median(r[key] for r in ranks)
        elif key == "op_overhead":
            merged[key] = {"seconds_per_op": statistics.median(r[key]["seconds_per_op"]
                                                               for r in ranks),
                           "ops": value["ops"]}  # fmt: skip
    merged["collectives"] = [
        {**row, "seconds": statistics.median(r["collectives"][i]["seconds"] for r in ranks)}
        for i, row in enumerate(ranks[0]["collectives"])
    ]
    return merged


# ------------------------------------------------------------------------------------- fits


def latency_steps(op: str, p: int) -> int:
    """Sequential message rounds of the ring algorithms (all-reduce = reduce-scatter + gather)."""
    return {"all_reduce": 2 * (p - 1), "p2p_ring": 1}.get(op, p - 1)


def fit_alpha_beta(rows: list[dict], nproc: int) -> dict:
    """Least squares t = alpha*steps + sent/bw, weighted by 1/t so every size counts alike
    (relative error); rows with a non-positive marginal time (noise) are left out."""
    rows = [r for r in rows if r["seconds"] > 0]
    design = np.array([[latency_steps(r["op"], nproc), _sent(r, nproc)] for r in rows], float)
    times = np.array([r["seconds"] for r in rows])
    weights = 1.0 / times
    (alpha, beta), *_ = np.linalg.lstsq(design * weights[:, None], np.ones_like(times), rcond=None)
    alpha, beta = max(alpha, 1e-7), max(beta, 1e-12)
    predicted = design @ np.array([alpha, beta])
    return {
        "latency_s": float(alpha),
        "bytes_per_s": float(1 / beta),
        "r2": _r2(times, predicted),
        "median_rel_residual": float(np.median(np.abs(predicted - times) / times)),
        "points": len(rows),
    }


def _sent(row: dict, p: int) -> float:
    """Wire bytes per rank; comm_ops' all-gather buffer is the output, the rest the input."""
    buffer = row["bytes"] * p if row["op"] == "all_gather" else row["bytes"]
    return sent_bytes(CollectiveCall(op=row["op"], dim="dp", buffer_bytes=buffer), p)


def _r2(measured: np.ndarray, predicted: np.ndarray) -> float:
    total = float(np.sum((measured - measured.mean()) ** 2))
    return 1.0 - float(np.sum((measured - predicted) ** 2)) / total if total else 1.0


def fit_compute(m: dict, plan: Plan) -> dict:
    """Peak (best square matmul), and the smoke-shape GEMM / attention fractions of it."""
    # The best rate seen (a loaded box can time the square matmuls below the smoke shapes): the
    # fractions are relative to it, so peak x fraction gives back each measured rate exactly.
    squares = [v for k, v in m.items() if k.startswith("matmul_fp32_")]
    peak = max(*squares, m["linear_fwd_bwd"], m["attention_fwd_bwd"])
    bf16 = m[f"matmul_bf16_{plan.bf16_shape}"]
    return {
        "peak_flop_per_s": peak,
        "peak_bf16_flop_per_s": bf16,
        "gemm_max": min(m["linear_fwd_bwd"] / peak, 1.0),
        "attention_max": min(m["attention_fwd_bwd"] / peak, 1.0),
        "hbm_bytes_per_s": m["copy_bytes_per_s"],
        "kernel_overhead_s": m["op_overhead"]["seconds_per_op"],
    }


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 8.0


def cluster_spec(*, plan: Plan, compute: dict, comm: dict) -> ClusterSpec:
    """The fitted constants as a ClusterSpec (validated like any spec file)."""
    stamp = datetime.date.today().isoformat()
    cores = os.cpu_count() or 1
    data = {
        "name": "cpu-local",
        "source": [
            f"measured by `parplan calibrate --nproc {plan.nproc}` on {stamp}, {cores} cores: "
            f"{plan.nproc} one-thread ranks measuring at once (docs/smoke.md); smoke shapes "
            f"hidden {plan.hidden}, heads {plan.heads}, tokens {plan.tokens}",
            f"gloo alpha-beta fit: R2 {comm['r2']:.3f}, median |relative residual| "
            f"{comm['median_rel_residual']:.2f}",
        ],
        "gpu": {
            "name": f"CPU-core-share-{plan.nproc}ranks-{cores}cores",
            "peak_tflops": {"fp32": _sig(compute["peak_flop_per_s"] / 1e12),
                            "bf16": _sig(compute["peak_bf16_flop_per_s"] / 1e12)},
            "memory_gib": round(_memory_gib() / plan.nproc, 2),
            "hbm_gbyte_per_s": _sig(compute["hbm_bytes_per_s"] / 1e9),
        },
        "gpus_per_node": plan.nproc,
        "nodes": 1,
        "intra_node": {"fabric": "loopback", "gbyte_per_s_per_gpu": _sig(comm["bytes_per_s"] / 1e9),
                       "latency_us": _sig(comm["latency_s"] * 1e6)},
        "inter_node": {"nics_per_node": 1, "gbit_per_s_per_nic": _sig(8 * comm["bytes_per_s"] / 1e9),
                       "latency_us": _sig(comm["latency_s"] * 1e6), "topology": "fat_tree"},
        "efficiency": {"gemm_max": _sig(compute["gemm_max"]),
                       "attention_max": _sig(compute["attention_max"]),
                       "hbm": 1.0,
                       "kernel_overhead_us": _sig(compute["kernel_overhead_s"] * 1e6),
                       "collective_bus": 1.0},
    }  # fmt: skip
    return parse_spec(ClusterSpec, data, "calibrated cluster")


def _sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def write_cluster(spec: ClusterSpec, path: Path, comment: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `parplan calibrate` (parplan/smoke/calibrate.py); re-run to refresh.\n"
    header += "".join(f"# {line}\n" for line in comment.splitlines())
    body = yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False)
    path.write_text(header + body)


def calibrate(
    nproc: int, out: Path, progress: Callable[[str], None] = lambda step: None, *,
    quick: bool = False,
) -> dict:  # fmt: skip
    """Measure on `nproc` concurrent ranks, fit, write `out`; returns measurements and fits."""
    plan = Plan.quick(nproc) if quick else Plan(nproc=nproc)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    progress("measure")
    measured = measure(plan)
    progress("fit")
    compute, comm = fit_compute(measured, plan), fit_alpha_beta(measured["collectives"], nproc)
    spec = cluster_spec(plan=plan, compute=compute, comm=comm)
    stamp = datetime.datetime.now().isoformat(timespec="minutes")
    comment = (f"Measured {stamp} by `parplan calibrate --nproc {nproc}{' --quick' * quick}` on "
               f"{os.cpu_count()} cores (1-min load average {load:.1f} before the run); per "
               "rank, with all ranks measuring at once.")  # fmt: skip
    write_cluster(spec, out, comment)
    return {"out": str(out), "plan": plan.model_dump(), "measured": measured,
            "compute_fit": compute, "comm_fit": comm}  # fmt: skip
