"""DSP (Dynamic Sequence Parallelism): switch the sharded dimension between spatial and temporal
blocks with one all-to-all; attention itself needs no communication.

Source: Zhao et al., arXiv 2403.10266; OpenDiT commit 01bca9c opendit/models/opensora/stdit.py
(`dynamic_switch`); sequence_parallel.md §4. Spatial blocks are sharded on frames, temporal
blocks on spatial positions; each switch moves X/p per GPU buffer. Spatial/temporal DiTs
interleave their blocks (Latte, STDiT), so a model with S spatial and T temporal blocks switches
2·min(S, T) times per forward; a spatial_temporal block switches twice. Full-attention blocks
have nothing to switch, so DSP falls back to Ulysses on them.
"""

from __future__ import annotations

from parplan.cluster.comm_ops import CollectiveCall
from parplan.cost.strategies.base import BlockShape


def dsp_switch_calls(
    shape: BlockShape, *, degree: int, switches: int
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    if degree <= 1 or switches == 0:
        return [], []
    fwd = [CollectiveCall(op="all_to_all", dim="sp", buffer_bytes=shape.x_bytes / degree,
                          count=switches, label="dsp.switch")]
    return fwd, [c.model_copy(update={"phase": "bwd"}) for c in fwd]


def dsp_switch_count(counts_by_type: dict[str, int]) -> int:
    """Switches per forward for the whole model (the interleaving rule in the docstring)."""
    pairs = min(counts_by_type.get("spatial", 0), counts_by_type.get("temporal", 0))
    return 2 * pairs + 2 * counts_by_type.get("spatial_temporal", 0)
