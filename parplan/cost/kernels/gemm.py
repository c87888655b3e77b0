"""How much of the best-shape GEMM rate (MAMF) one (M, N, K) GEMM keeps: tile and wave quantization.

NVIDIA Deep Learning Performance guide, "Matrix Multiplication Background" (DU-09799-001):
cuBLAS splits the M x N output into tiles, one thread block each (§2.1); a partial tile at the
edge of M or N computes its full size (tile quantization, §3.1); the tiles run in waves of one
per SM, so a partial last wave leaves SMs idle (wave quantization, §3.2; A100: 108 SMs, H100
SXM5: 132). The Maximum Achievable Matmul FLOPS (device.py) is a shape with neither loss, so

    utilization = (M N / (tiles x tile area)) x (tiles x splits / (waves x SMs))

for the best of cuBLAS's large tiles, 256x128, 128x256 and 128x128 (§2.3 names the larger ones the
most efficient; all three keep an A100 SM's operand traffic within its share of the 5120 B/clk L2
bandwidth of the A100 whitepaper, so the model charges them no other loss and does not consider
the smaller ones). When the output does not fill one wave, cuBLAS splits K across blocks
(split-K), each slice at least one kernel pipeline long (SPLIT_K_MIN_K); the fp32 reduction of
the slices is not counted. Pure function of the shape and the SM count: the block anatomy
passes each layer's M, N, K per GPU (forward, dgrad, wgrad).
"""

from __future__ import annotations

import math
from functools import cache

TILES = ((256, 128), (128, 256), (128, 128))  # (rows of M, columns of N) per thread block
# shortest K slice of split-K: one full software pipeline, CUTLASS's sm80 multistage GEMMs run
# 3-4 stages of 64-deep K tiles (cutlass/gemm/device/default_gemm_configuration.h)
SPLIT_K_MIN_K = 256


@cache
def gemm_utilization(*, m: int, n: int, k: int, sms: int | None) -> float:
    """Fraction of the best-shape rate an (m x k) @ (k x n) GEMM runs at (1.0 without an SM
    count, e.g. a CPU)."""
    if sms is None or min(m, n, k) <= 0:
        return 1.0
    return max(_with_tile(m=m, n=n, k=k, sms=sms, tile=t) for t in TILES)


def _with_tile(*, m: int, n: int, k: int, sms: int, tile: tuple[int, int]) -> float:
    rows, cols = tile
    tiles = math.ceil(m / rows) * math.ceil(n / cols)
    splits = split_k(tiles=tiles, k=k, sms=sms)
    waves = math.ceil(tiles * splits / sms)
    tile_use = m * n / (tiles * rows * cols)
    wave_use = tiles * splits / (waves * sms)
    return tile_use * wave_use


def split_k(*, tiles: int, k: int, sms: int) -> int:
    """K slices per output tile: enough to fill one wave when the tiles alone do not."""
    if tiles >= sms:
        return 1
    return max(1, min(sms // tiles, k // SPLIT_K_MIN_K))


def training_utilization(*, m: int, n: int, k: int, sms: int | None) -> float:
    """FLOP-weighted utilization of one linear layer's three training GEMMs: forward
    Y = X W (m, n, k), dgrad dX = dY W^T (m, k, n), wgrad dW = X^T dY (k, n, m)."""
    shapes = ((m, n, k), (m, k, n), (k, n, m))
    return 3.0 / sum(1.0 / gemm_utilization(m=a, n=b, k=c, sms=sms) for a, b, c in shapes)
