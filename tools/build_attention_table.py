"""Write parplan/cost/kernels/attention.yaml from the collected published attention figures.

    python tools/build_attention_table.py PUBLISHED.yaml [--out parplan/cost/kernels/attention.yaml]

PUBLISHED.yaml is the collection of published attention-kernel throughput (one row per bar or
CSV line, each with its source) gathered for issue 14. This script only selects and groups
rows; it types no number. Selection (one consistent source per architecture and kernel):

* ampere, flash2: FlashAttention-2 (Dao 2023, arXiv 2307.08691) Fig. 4, A100 SXM4 80GB,
  forward + backward (the paper's forward-only and backward-only A100 figures were not found).
* hopper, flash2 / flash3 / cudnn: FlashAttention-3 (Shah et al. 2024, arXiv 2407.08608)
  Fig. 5 (forward) and Fig. 6 (backward), H100 SXM5, and FlashAttention-2 Fig. 7 (H100
  forward + backward) for FlashAttention-2. One figure for the three kernels keeps their
  ratios as published; the cuDNN of those bars is cuDNN 9 of mid-2024 (newer cuDNN rows on
  H200 are faster and are not used).
* blackwell, cudnn / flash2: NVIDIA/cudnn-frontend benchmark/sdpa_benchmark_training results
  on GB200 (kernel-only profiler times): causal from the Llama-3.1-405B-like shapes (cuDNN
  and PyTorch's FlashAttention-2), non-causal from the Llama-3.1 GQA shapes (cuDNN only),
  non-deterministic backward. The B200 CSV of 2025-07 times the Python call (launch overhead
  included) and is left out; the Wan2.2 / LTX-2 video-DiT rows are left out of the table and
  serve as its out-of-sample check (tests/test_attention_table.py).
Only 16-bit rows. Each series keeps the source of its rows verbatim.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import yaml

# dense 16-bit tensor-core peak of the GPU each series was measured on (TFLOP/s), so that the
# table is read as a fraction of peak and carries over to GPUs of the same architecture
SOURCE_PEAK_TFLOPS = {
    "A100-SXM4-80GB": 312.0,  # NVIDIA A100 datasheet, BF16/FP16 dense
    "H100-SXM5-80GB": 989.4,  # NVIDIA H100 datasheet, SXM5 BF16 dense
    "GB200": 2500.0,  # NVIDIA GB200 NVL72 datasheet: 180 PFLOPS FP16/BF16 dense over 72 GPUs
}


# Tiles (query rows x keys per CTA step; kBlockM x kBlockN) of the kernel each padded head dim
# runs, forward and backward, 16-bit, no dropout, read from Dao-AILab/flash-attention@0251105:
# FlashAttention-2 csrc/flash_attn/src/flash_{fwd,bwd}_launch_template.h (the sm80 kernels it
# runs on A100 and H100; head dims rounded up by HEADDIM_SWITCH in static_switch.h);
# FlashAttention-3 hopper/tile_size.h (tile_size_fwd_sm90, non-causal) and
# hopper/flash_bwd_launch_template.h (Arch >= 90, non-causal). cuDNN's kernels are closed:
# on Hopper it is given FlashAttention-3's tiles (both are TMA/WGMMA warp-specialized kernels),
# on Blackwell 128 x 128 (FlashAttention-4's tile, flash_attn/cute/interface.py); an assumption.
TILES = {
    "flash2": {
        "head_dims": [32, 64, 96, 128, 192, 256],
        "fwd": {32: [128, 128], 64: [128, 128], 96: [128, 64], 128: [128, 64], 192: [128, 64], 256: [128, 64]},
        "bwd": {32: [128, 128], 64: [128, 128], 96: [64, 128], 128: [64, 128], 192: [64, 64], 256: [64, 64]},
    },
    "flash3": {
        "head_dims": [64, 96, 128, 192, 256],
        "fwd": {64: [192, 192], 96: [192, 144], 128: [128, 176], 192: [128, 128], 256: [128, 80]},
        "bwd": {64: [128, 128], 96: [64, 128], 128: [80, 128], 192: [64, 96], 256: [64, 80]},
    },
    "cudnn_hopper": {
        "head_dims": [64, 96, 128, 192, 256],
        "fwd": {64: [192, 192], 96: [192, 144], 128: [128, 176], 192: [128, 128], 256: [128, 80]},
        "bwd": {64: [128, 128], 96: [64, 128], 128: [80, 128], 192: [64, 96], 256: [64, 80]},
    },
    "cudnn_blackwell": {
        "head_dims": [64, 128, 256],
        "fwd": {64: [128, 128], 128: [128, 128], 256: [128, 128]},
        "bwd": {64: [128, 128], 128: [128, 128], 256: [128, 128]},
    },
}  # fmt: skip


def _selected(row: dict) -> bool:
    if row["dtype"] not in ("bf16", "fp16") or row["kernel"] not in ("flash2", "flash3", "cudnn"):
        return False
    if row.get("deterministic_bwd"):
        return False
    gpu, arch = row["gpu"], row["arch"]
    if arch == "ampere":
        return gpu == "A100-SXM4-80GB"
    if arch == "hopper":
        return gpu == "H100-SXM5-80GB"
    if gpu != "GB200":
        return False
    figure = row["source"].get("figure", "")
    if row["causal"]:
        return "Llama-3.1-405B-like" in figure
    return "Llama-3.1 GQA" in figure


def _citation(source: dict) -> str:
    if "paper" in source:
        parts = [source["paper"], f"arXiv {source['arxiv']}", source["figure"], source.get("panel", "")]
        if source.get("file"):
            parts.append(f"image {source['file']}")
        return "; ".join(p for p in parts if p)
    return f"{source['repo']}@{source['commit'][:7]} {source['file']}: {source.get('figure', '')}"


def build(published: Path) -> dict:
    rows = yaml.safe_load(published.read_text())["rows"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in filter(_selected, rows):
        key = (row["arch"], row["kernel"], row["direction"], row["head_dim"], row["causal"],
               row["gpu"], json.dumps(row["source"], sort_keys=True))  # fmt: skip
        groups[key].append(row)
    series = []
    for (arch, kernel, direction, head_dim, causal, gpu, source), members in sorted(groups.items()):
        members.sort(key=lambda r: r["seq_len"])
        series.append({
            "arch": arch, "kernel": kernel, "direction": direction, "head_dim": head_dim,
            "causal": causal, "gpu": gpu, "source_peak_tflops": SOURCE_PEAK_TFLOPS[gpu],
            "heads": members[0]["heads"], "flop_formula": members[0]["flop_formula"],
            "source": _citation(json.loads(source)),
            "confidence": sorted({r["confidence"] for r in members}),
            "points": [[r["seq_len"], float(r["tflops"])] for r in members],
        })  # fmt: skip
    return {"tiles": TILES, "series": series}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("published", type=Path)
    parser.add_argument("--out", type=Path, default=Path("parplan/cost/kernels/attention.yaml"))
    args = parser.parse_args()
    header = (
        "# Published attention-kernel throughput, TFLOP/s by sequence length (points: [tokens, TFLOP/s]).\n"
        "# Generated by tools/build_attention_table.py (selection rules in its docstring); do not edit by hand.\n"
        "# FLOPs as each source counts them (FA_STD: forward 4*b*s^2*h*d, halved when causal; backward 2.5x;\n"
        "# forward+backward 3.5x). Read by parplan/cost/kernels/attention_table.py.\n"
    )
    args.out.write_text(header + yaml.safe_dump(build(args.published), sort_keys=False, width=200, default_flow_style=None))


if __name__ == "__main__":
    main()
