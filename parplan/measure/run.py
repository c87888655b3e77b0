"""`parplan kernels measure`: time the model's own GEMMs, every SDPA backend over its attention
shapes and one eager block forward + backward on the local device, and return a kernel table
(parplan/cost/measured.py) with its provenance."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from parplan.cost.measured import (
    SDPA_BACKENDS,
    AttentionRow,
    BlockRow,
    GemmRow,
    KernelTable,
    Provenance,
)
from parplan.measure.eager_block import build_block, self_attention_of
from parplan.measure.shapes import Split, attention_calls, gemm_shapes
from parplan.measure.timing import (
    gemm_tflops,
    import_torch,
    median_seconds,
    pick_device,
    sdpa_tflops,
    torch_dtype,
)
from parplan.model.flops import model_cost
from parplan.model.geometry import token_geometry
from parplan.specs import ModelSpec, WorkloadSpec

# progress(description, done, total)
Progress = Callable[[str, int, int], None]


def measure_kernels(
    *, model: ModelSpec, workload: WorkloadSpec, split: Split, device: str = "auto",
    dtype: str | None = None, repeats: int = 5, command: str = "", progress: Progress | None = None,
) -> KernelTable:  # fmt: skip
    """Measure on `device` (auto: CUDA if torch sees one, else the CPU) at `dtype` (default:
    the workload's precision on CUDA, fp32 on the CPU where 16-bit GEMMs are emulated)."""
    torch = import_torch()
    dev = pick_device(torch, device)
    dtype = dtype or (workload.precision if dev.type == "cuda" else "fp32")
    tdtype = torch_dtype(torch, dtype)
    jobs = _jobs(torch, dev, tdtype, model=model, workload=workload, split=split, dtype=dtype,
                 repeats=repeats)  # fmt: skip
    report = progress or (lambda _what, _done, _total: None)
    rows: dict[str, list[Any]] = {"gemm": [], "attention": [], "block": [], "notes": []}
    for done, (what, kind, job) in enumerate(jobs):
        report(what, done, len(jobs))
        for item in job():  # a str is why a kernel could not run here
            rows["notes" if isinstance(item, str) else kind].append(item)
    report("done", len(jobs), len(jobs))
    return KernelTable(
        provenance=_provenance(torch, dev, model=model, workload=workload, dtype=dtype, split=split,
                               repeats=repeats, command=command, notes=rows["notes"]),  # fmt: skip
        gemm=rows["gemm"], attention=rows["attention"], block=rows["block"],
    )  # fmt: skip


def _jobs(torch: Any, dev: Any, tdtype: Any, *, model: ModelSpec, workload: WorkloadSpec,
          split: Split, dtype: str, repeats: int) -> list[tuple[str, str, Callable[[], list]]]:  # fmt: skip
    """(description, table section, thunk returning rows) for every measurement."""
    jobs: list[tuple[str, str, Callable[[], list]]] = []
    for shape in gemm_shapes(model, workload, split):
        def gemm(shape=shape) -> list:
            tflops = gemm_tflops(torch, dev, tdtype, shape, repeats=repeats)
            return [GemmRow(name=",".join(shape.names), m=shape.m, n=shape.n, k=shape.k,
                            dtype=dtype, tflops=tflops)]  # fmt: skip
        jobs.append((f"GEMM {shape.m}x{shape.n}x{shape.k}", "gemm", gemm))
    for call in attention_calls(model, workload, split):
        for backend in SDPA_BACKENDS:
            def attention(call=call, backend=backend) -> list:
                return _attention_rows(torch, dev, tdtype, call, backend, repeats=repeats)
            kind = "attention"
            jobs.append((f"SDPA {backend} q{call.q_len} kv{call.kv_len} d{call.head_dim}", kind,
                         attention))  # fmt: skip
    for group in model.blocks:
        def block(block_type=group.type) -> list:
            return [_block_row(torch, dev, tdtype, model, workload, split, block_type, repeats)]
        jobs.append((f"{group.type} block fwd+bwd", "block", block))
    return jobs


def _attention_rows(torch: Any, dev: Any, tdtype: Any, call: Any, backend: str, *,
                    repeats: int) -> list:  # fmt: skip
    result = sdpa_tflops(torch, dev, tdtype, call, backend, repeats=repeats)
    if isinstance(result, str):
        return [f"not measured at q{call.q_len} kv{call.kv_len} d{call.head_dim}: {result}"]
    shape = dict(kernel=SDPA_BACKENDS[backend], head_dim=call.head_dim, q_len=call.q_len,
                 kv_len=call.kv_len, causal=call.causal, heads=call.heads, batch=call.batch)  # fmt: skip
    return [AttentionRow(direction="fwd", tflops=result[0], **shape),
            AttentionRow(direction="bwd", tflops=result[1], **shape)]  # fmt: skip


def _block_row(torch: Any, dev: Any, tdtype: Any, model: ModelSpec, workload: WorkloadSpec,
               split: Split, block_type: str, repeats: int) -> BlockRow:  # fmt: skip
    geometry = token_geometry(model, workload)
    cost = next(b for b in model_cost(model, geometry, workload).blocks if b.block_type == block_type)
    attn = self_attention_of(cost.attention)
    seqs, length = attn.sequences, max(attn.q_len // split.ring, 1)
    b, h = split.micro_batch, model.hidden
    module = build_block(torch, model, split).to(device=dev, dtype=tdtype)
    x = torch.randn(b, seqs * length, h, device=dev, dtype=tdtype, requires_grad=True)
    c = torch.randn(b, h, device=dev, dtype=tdtype)
    text = torch.randn(b, max(geometry.text_tokens, 1), h, device=dev, dtype=tdtype)
    out = module(x, c, text, seqs)
    grad = torch.randn_like(out)
    fwd_s = median_seconds(torch, dev, lambda: module(x, c, text, seqs), repeats=repeats)
    bwd_s = median_seconds(torch, dev, lambda: out.backward(grad, retain_graph=True),
                           repeats=repeats)  # fmt: skip
    return BlockRow(block_type=block_type, tokens=seqs * length, micro_batch=b, fwd_s=fwd_s,
                    bwd_s=bwd_s)  # fmt: skip


def _provenance(torch: Any, dev: Any, *, model: ModelSpec, workload: WorkloadSpec, dtype: str,
                split: Split, repeats: int, command: str, notes: list[str]) -> Provenance:  # fmt: skip
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
    else:
        import platform

        name = f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"
    return Provenance(
        device=name, torch=torch.__version__, cuda=torch.version.cuda if dev.type == "cuda" else None,
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), command=command,
        model=model.name, workload=workload.name, dtype=dtype, repeats=repeats,
        split=split.model_dump(), notes=notes,
    )  # fmt: skip
