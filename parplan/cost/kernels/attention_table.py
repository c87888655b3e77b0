"""Fused attention kernel time from published throughput (attention.yaml), per architecture.

The table holds published TFLOP/s of FlashAttention-2, FlashAttention-3 and cuDNN over sequence
length, head dim and causal, forward and backward, each series citing its figure (see
tools/build_attention_table.py for what was selected). It is read as a fraction of the
measuring GPU's dense peak, so it carries over to GPUs of the same architecture.

* Between published lengths: linear in log(sequence length); above the longest: flat.
* Between head dims: the kernel runs at its padded head dim (FlashAttention-2: 32, 64, 96,
  128, 192, 256, `HEADDIM_SWITCH` in csrc/flash_attn/src/static_switch.h; FlashAttention-3:
  64 ... 256, `round_up_headdim` in hopper/flash_api.cpp), and the series' parameters are
  interpolated linearly in head dim between the published ones (clamped outside them).
* Below the shortest published length (temporal attention over 16-33 frames, 256-token
  images, cross-attention to 120 text tokens): a tile model, not an extrapolation. A kernel
  runs one CTA per `outer` block of rows (forward: kBlockM queries; backward: kBlockN keys),
  each paying a fixed cost tau0 (load Q, write O, launch of the CTA) and one full tile step
  tau_it per `inner` block, masked rows and all. tau_it is a tile's FLOPs at the series'
  long-sequence rate; tau0 is what the shortest published point leaves over after its tile
  steps. So the model reproduces the shortest point exactly, tends to the long-sequence rate,
  and at 16 tokens charges the padded 128 x 64 tile that FlashAttention-2 really computes.
  The caller adds the HBM floor (Q, K, V, O in; dO, dQ, dK, dV) and launch latency.

Series the sources do not give are derived, in this order, each rule stated where it runs:
backward from forward+backward minus forward; forward and backward at the forward+backward
rate when only that is published (A100); a missing causal backward from the non-causal
backward scaled by the causal/non-causal forward ratio; a missing head dim's backward from
the nearest head dim's backward/forward ratio; Blackwell FlashAttention-2's non-causal rows from
its causal rows (only those are published). Values are 16-bit rates; fp8 attention runs at them
(ATTENTION_PRECISION).
"""

from __future__ import annotations

import bisect
import math
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from parplan.errors import SpecError

TABLE_PATH = Path(__file__).with_name("attention.yaml")
FWD_BWD_OVER_FWD = 3.5  # FA_STD: forward + backward FLOPs = 3.5 x forward (Dao 2023 benchmark script)
BWD_OVER_FWD = 2.5  # FA_STD: backward = 2.5 x forward (5 matmuls incl. the QK^T recompute vs 2)
DIRECTION_FLOPS = {"fwd": 1.0, "bwd": BWD_OVER_FWD}


class Series(BaseModel):
    """One published curve: TFLOP/s over sequence length for one kernel configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: str
    kernel: str
    direction: str  # fwd | bwd | fwd_bwd
    head_dim: int
    causal: bool
    gpu: str
    source_peak_tflops: float
    heads: int
    flop_formula: str
    source: str
    confidence: list[str]
    points: list[tuple[int, float]]  # (tokens, TFLOP/s)


class KernelTiles(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    head_dims: list[int]  # the compiled head dims; a head dim runs at the next one up
    fwd: dict[int, tuple[int, int]]  # padded head dim -> (kBlockM queries, kBlockN keys)
    bwd: dict[int, tuple[int, int]]


class TableFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tiles: dict[str, KernelTiles]
    series: list[Series]


class Curve(BaseModel):
    """A forward or backward curve at one head dim: fraction of peak over log length."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    log_lengths: tuple[float, ...]
    fractions: tuple[float, ...]
    derived: str | None = None  # the rule, when the sources give no such series

    def at(self, length: float) -> float:
        x = math.log(max(length, 1.0))
        i = bisect.bisect_left(self.log_lengths, x)
        if i == 0:
            return self.fractions[0]
        if i == len(self.log_lengths):
            return self.fractions[-1]
        x0, x1 = self.log_lengths[i - 1], self.log_lengths[i]
        f0, f1 = self.fractions[i - 1], self.fractions[i]
        return f0 + (f1 - f0) * (x - x0) / (x1 - x0)

    @property
    def shortest(self) -> float:
        return math.exp(self.log_lengths[0])


def _curve(points: list[tuple[float, float]], peak: float, derived: str | None = None) -> Curve:
    points = sorted(points)
    return Curve(
        log_lengths=tuple(math.log(s) for s, _ in points),
        fractions=tuple(t / peak for _, t in points),
        derived=derived,
    )


def _combine(a: Curve, b: Curve, rule, derived: str) -> Curve:
    """A curve on the lengths both publish, value rule(fa, fb) at each."""
    lengths = sorted(set(a.log_lengths) & set(b.log_lengths)) or list(a.log_lengths)
    values = [rule(a.at(math.exp(x)), b.at(math.exp(x))) for x in lengths]
    return Curve(log_lengths=tuple(lengths), fractions=tuple(values), derived=derived)


@cache
def load_table(path: Path = TABLE_PATH) -> TableFile:
    return TableFile.model_validate(yaml.safe_load(path.read_text()))


Key = tuple[str, str, str, bool]  # arch, kernel, direction (fwd|bwd), causal


@cache
def curves(path: Path = TABLE_PATH) -> dict[Key, dict[int, Curve]]:
    """Forward and backward curves by head dim, with the derived series filled in."""
    raw: dict[tuple[str, str, str, bool, int], Curve] = {}
    for s in load_table(path).series:
        raw[(s.arch, s.kernel, s.direction, s.causal, s.head_dim)] = _curve(s.points, s.source_peak_tflops)
    _derive_from_fwd_bwd(raw)
    _derive_missing_backward(raw)
    _blackwell_flash2_non_causal(raw)
    out: dict[Key, dict[int, Curve]] = {}
    for (arch, kernel, direction, causal, hd), c in raw.items():
        if direction != "fwd_bwd":
            out.setdefault((arch, kernel, direction, causal), {})[hd] = c
    return out


def _derive_from_fwd_bwd(raw: dict) -> None:
    """backward time = (forward+backward) time - forward time, per unit forward FLOP (H100
    FlashAttention-2: Dao 2023 Fig. 7 minus Shah 2024 Fig. 5); with no forward series (A100,
    Dao 2023 Fig. 4 only), both directions at the forward+backward rate."""
    for (arch, kernel, direction, causal, hd), fb in list(raw.items()):
        if direction != "fwd_bwd":
            continue
        fwd = raw.get((arch, kernel, "fwd", causal, hd))
        if fwd is None:
            raw[(arch, kernel, "fwd", causal, hd)] = fb.model_copy(update={"derived": "fwd = fwd+bwd rate"})
            raw.setdefault((arch, kernel, "bwd", causal, hd), fb.model_copy(update={"derived": "bwd = fwd+bwd rate"}))
            continue
        if (arch, kernel, "bwd", causal, hd) not in raw:
            rule = lambda f_fb, f_f: BWD_OVER_FWD / (FWD_BWD_OVER_FWD / f_fb - 1.0 / f_f)  # noqa: E731
            raw[(arch, kernel, "bwd", causal, hd)] = _combine(fb, fwd, rule, "bwd = (fwd+bwd) - fwd")


def _derive_missing_backward(raw: dict) -> None:
    """A forward series with no backward: scale the forward by the backward/forward ratio of
    the same kernel's non-causal series at the nearest head dim (FA3 and cuDNN publish the
    backward only non-causal at head dims 64 and 128, Shah 2024 Fig. 6)."""
    for (arch, kernel, direction, causal, hd), fwd in list(raw.items()):
        if direction != "fwd" or (arch, kernel, "bwd", causal, hd) in raw:
            continue
        pairs = [h for (a, k, d, c, h) in raw if (a, k, d, c) == (arch, kernel, "bwd", False)
                 and (arch, kernel, "fwd", False, h) in raw]  # fmt: skip
        if not pairs:
            continue
        near = min(pairs, key=lambda h: (abs(h - hd), h))
        ratio = _combine(raw[(arch, kernel, "bwd", False, near)], raw[(arch, kernel, "fwd", False, near)],
                         lambda b, f: b / f, "")  # fmt: skip
        raw[(arch, kernel, "bwd", causal, hd)] = _combine(
            fwd, ratio, lambda f, r: f * r, f"bwd = fwd x non-causal bwd/fwd at head dim {near}"
        )


def _blackwell_flash2_non_causal(raw: dict) -> None:
    """NVIDIA publishes FlashAttention-2 on GB200 causal only; non-causal runs at least as fast
    per FLOP in every published H100 panel, so the causal rows stand in (conservative)."""
    for (arch, kernel, direction, causal, hd), c in list(raw.items()):
        if (arch, kernel) == ("blackwell", "flash2") and causal and direction != "fwd_bwd":
            raw.setdefault((arch, kernel, direction, False, hd), c.model_copy(update={"derived": "non-causal = causal"}))


def kernel_tiles(kernel: str, arch: str) -> KernelTiles:
    tiles = load_table().tiles
    return tiles.get(f"{kernel}_{arch}") or tiles[kernel]


def padded_head_dim(kernel: str, arch: str, head_dim: int) -> int:
    """The head dim of the kernel that runs (FlashAttention-2: d = 72 runs the 96 kernel)."""
    dims = kernel_tiles(kernel, arch).head_dims
    i = bisect.bisect_left(dims, head_dim)
    if i == len(dims):
        raise SpecError(f"head dim {head_dim}: {kernel} runs head dims up to {dims[-1]}")
    return dims[i]


def resolve_kernel(kernel: str, arch: str) -> str:
    """The kernel whose rows price `kernel` on `arch`: cuDNN on Ampere has no published rows and
    is priced as FlashAttention-2; FlashAttention-3 exists on Hopper only."""
    if kernel == "flash3" and arch != "hopper":
        raise SpecError(
            f"stack.attention=flash3: FlashAttention-3 runs on Hopper (sm90) only, this GPU is "
            f"{arch}; use flash2 or cudnn"
        )
    if kernel == "cudnn" and arch == "ampere":
        return "flash2"
    return kernel


def has_rows(arch: str) -> bool:
    return any(key[0] == arch for key in curves())


class _Params(BaseModel):
    """A curve's parameters at one head dim: the table rate, tau0 and the long-sequence rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: float  # at the queried length
    shortest: float
    overhead: float  # tau0 per CTA, in FLOP of peak (seconds x peak)
    asymptote: float  # fraction of peak at the longest published length


def _params(curve: Curve, length: float, hd: int, tiles: tuple[int, int], direction: str, causal: bool) -> _Params:
    s0, f0, f_inf = curve.shortest, curve.fractions[0], curve.fractions[-1]
    work, ctas = _tile_work(tiles, hd, direction, causal, outer=s0, inner=s0)
    flops = DIRECTION_FLOPS[direction] * 4.0 * s0 * s0 * hd / (2 if causal else 1)
    overhead = max(0.0, (flops / f0 - work / f_inf) / ctas)
    return _Params(fraction=curve.at(length), shortest=s0, overhead=overhead, asymptote=f_inf)


def _tile_work(tiles: tuple[int, int], hd: int, direction: str, causal: bool, *, outer: float,
               inner: float) -> tuple[float, int]:  # fmt: skip
    """(FLOPs of the full tiles one problem computes, CTAs) for `outer` rows split into blocks
    that each step through `inner` in blocks (forward: queries outer, keys inner; backward:
    keys outer, queries inner). Causal skips the tiles above the diagonal."""
    block_q, block_k = tiles
    b_out, b_in = (block_q, block_k) if direction == "fwd" else (block_k, block_q)
    n_out, n_in = math.ceil(outer / b_out), math.ceil(inner / b_in)
    steps = n_out * n_in
    if causal:
        steps = sum(min(n_in, math.ceil((i + 1) * b_out / b_in)) for i in range(n_out))
    return DIRECTION_FLOPS[direction] * 4.0 * b_out * b_in * hd * steps, n_out


@cache
def attention_fraction(*, arch: str, kernel: str, direction: str, causal: bool, head_dim: int,
                       q_len: int, kv_len: int) -> tuple[float, int]:  # fmt: skip
    """(achieved fraction of peak on the padded-head-dim FLOPs, padded head dim) of one
    attention problem (one batch x head) of q_len queries and kv_len keys."""
    kernel = resolve_kernel(kernel, arch)
    hd = padded_head_dim(kernel, arch, head_dim)
    by_hd = curves()[(arch, kernel, direction, causal)]
    dims = sorted(by_hd)
    lo = max([h for h in dims if h <= hd], default=dims[0])
    hi = min([h for h in dims if h >= hd], default=dims[-1])
    tiles = kernel_tiles(kernel, arch)
    w = 0.0 if hi == lo else (hd - lo) / (hi - lo)
    outer, inner = (q_len, kv_len) if direction == "fwd" else (kv_len, q_len)
    p = [_params(by_hd[h], inner, h, tiles.fwd[h] if direction == "fwd" else tiles.bwd[h], direction, causal)
         for h in (lo, hi)]  # fmt: skip
    mix = {f: (1 - w) * getattr(p[0], f) + w * getattr(p[1], f) for f in _Params.model_fields}
    if min(q_len, kv_len) >= max(p[0].shortest, p[1].shortest):
        return mix["fraction"], hd
    own = tiles.fwd[hd] if direction == "fwd" else tiles.bwd[hd]
    work, ctas = _tile_work(own, hd, direction, causal, outer=outer, inner=inner)
    flops = DIRECTION_FLOPS[direction] * 4.0 * q_len * kv_len * hd / (2 if causal else 1)
    return flops / (work / mix["asymptote"] + ctas * mix["overhead"]), hd
