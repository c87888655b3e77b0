"""Pipeline parallelism: 1F1B and interleaved schedules.

Sources: Narayanan et al. 2021 (arXiv 2104.04473) §2.2: bubble fraction (p−1)/(v·m) of the
ideal time for m micro-batches, p stages and v virtual stages per rank; each stage boundary
sends the activation (and receives its gradient) once per micro-batch, v times as many
boundaries when interleaved; 1F1B keeps at most p micro-batches in flight on the first stage,
interleaving raises that by (1 + (p−1)/(p·v)) (Korthikanti et al. 2022 §4.2.3).
"""

from __future__ import annotations

from parplan.cluster.comm_ops import CollectiveCall


def bubble_fraction(*, pp: int, vpp: int, microbatches: int) -> float:
    return (pp - 1) / (vpp * microbatches) if pp > 1 else 0.0


def pp_microbatch_calls(*, boundary_bytes: float, pp: int, vpp: int) -> list[CollectiveCall]:
    """Activation send (fwd) and gradient send (bwd) across stage boundaries, per micro-batch."""
    if pp <= 1:
        return []
    return [
        CollectiveCall(op="p2p_ring", dim="pp", buffer_bytes=boundary_bytes, steps=vpp,
                       label="pp.activation"),
        CollectiveCall(op="p2p_ring", dim="pp", buffer_bytes=boundary_bytes, steps=vpp,
                       phase="bwd", label="pp.gradient"),
    ]


def in_flight_microbatches(*, pp: int, vpp: int, microbatches: int) -> float:
    """Micro-batches whose activations the first stage holds at the peak."""
    if pp <= 1:
        return 1.0
    return min(pp, microbatches) * (1 + (pp - 1) / (pp * vpp) if vpp > 1 else 1.0)
