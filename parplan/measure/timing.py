"""Time one kernel on the local device with torch: a GEMM, one SDPA backend forward and
backward, or any callable. CUDA runs are timed with events after a warm-up; CPU runs with
perf_counter. The median of `repeats` runs is reported (robust to a stray slow run)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from parplan.errors import SpecError
from parplan.measure.shapes import AttentionCall, GemmShape

TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
SCORE_BUDGET_BYTES = {"cuda": 16 * 2**30, "cpu": 2**28}  # math backend keeps s x s scores
SDPA_BACKEND_NAMES = {"flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION",
                      "cudnn": "CUDNN_ATTENTION", "math": "MATH"}  # fmt: skip


def import_torch() -> Any:
    """torch, or the one-line error that says how to get it (torch is the smoke extra)."""
    try:
        import torch
    except ImportError:
        raise SpecError(
            "parplan kernels measure needs torch: pip install 'parplan[smoke]'"
        ) from None
    return torch


def pick_device(torch: Any, name: str) -> Any:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SpecError("--device cuda: torch sees no CUDA GPU here; use --device cpu or auto")
    if name not in ("cuda", "cpu"):
        raise SpecError(f"--device {name!r}: allowed: auto, cuda, cpu")
    return torch.device(name)


def torch_dtype(torch: Any, dtype: str) -> Any:
    if dtype not in TORCH_DTYPES:
        raise SpecError(f"--dtype {dtype!r}: allowed: {', '.join(TORCH_DTYPES)}")
    return getattr(torch, TORCH_DTYPES[dtype])


def median_seconds(torch: Any, device: Any, fn: Callable[[], Any], *, repeats: int) -> float:
    """Median wall time of `fn` after one warm-up call."""
    fn()
    if device.type != "cuda":
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    torch.cuda.synchronize(device)
    times = []
    for _ in range(repeats):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        end.synchronize()
        times.append(begin.elapsed_time(end) / 1e3)
    return statistics.median(times)


def gemm_tflops(torch: Any, device: Any, dtype: Any, shape: GemmShape, *, repeats: int) -> float:
    a = torch.randn(shape.m, shape.k, device=device, dtype=dtype)
    b = torch.randn(shape.k, shape.n, device=device, dtype=dtype)
    seconds = median_seconds(torch, device, lambda: a @ b, repeats=repeats)
    return 2.0 * shape.m * shape.n * shape.k / seconds / 1e12


def attention_flops(call: AttentionCall) -> float:
    """QK^T and AV, 2 FLOP per MAC; causal halves it (FlashAttention's benchmark convention)."""
    flops = 4.0 * call.batch * call.heads * call.q_len * call.kv_len * call.head_dim
    return flops / 2 if call.causal else flops


def sdpa_tflops(
    torch: Any, device: Any, dtype: Any, call: AttentionCall, backend: str, *, repeats: int
) -> tuple[float, float] | str:
    """(forward, backward) TFLOP/s of one SDPA backend, or why it could not run here."""
    element_bytes = torch.empty((), dtype=dtype).element_size()
    scores = call.batch * call.heads * call.q_len * call.kv_len * element_bytes * 3
    if backend == "math" and scores > SCORE_BUDGET_BYTES[device.type]:
        return f"math: its scores would need {scores / 2**30:.1f} GiB"
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    q = torch.randn(call.batch, call.heads, call.q_len, call.head_dim, device=device, dtype=dtype,
                    requires_grad=True)  # fmt: skip
    k, v = (torch.randn(call.batch, call.kv_heads, call.kv_len, call.head_dim, device=device,
                        dtype=dtype, requires_grad=True) for _ in range(2))  # fmt: skip
    gqa = call.kv_heads != call.heads

    def forward() -> Any:
        return sdpa(q, k, v, is_causal=call.causal, enable_gqa=gqa)

    with sdpa_kernel([getattr(SDPBackend, SDPA_BACKEND_NAMES[backend])]):
        try:
            out = forward()
        except RuntimeError as err:
            return f"{backend}: {str(err).splitlines()[0][:120]}"
        grad = torch.randn_like(out)
        fwd_s = median_seconds(torch, device, forward, repeats=repeats)
        bwd_s = median_seconds(torch, device, lambda: out.backward(grad, retain_graph=True),
                               repeats=repeats)  # fmt: skip
    flops = attention_flops(call)
    return flops / fwd_s / 1e12, 2.5 * flops / bwd_s / 1e12
