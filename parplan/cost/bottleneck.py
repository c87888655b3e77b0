"""Name what the step waits for: the largest exposed collective (dimension, op, link tier), or
the pipeline bubble, optimizer or encoders when they cost more, with advice in words."""

from __future__ import annotations

from parplan.cost.records import Bottleneck, Breakdown

ExposedKey = tuple[str, str, str]  # (dimension, "op (label)", tier)

ADVICE = {
    "tp": "TP collectives are on the critical path: lower tp, keep TP inside a node, or enable "
    "Megatron-SP with communication overlap",
    "sp": "sequence-parallel traffic is exposed: prefer Ulysses inside a node and ring across "
    "nodes (USP), or DSP for spatial/temporal models; or trade SP for DP",
    "dp": "gradient/parameter traffic is exposed: use larger micro-batches or more accumulation, "
    "a lower ZeRO stage, or keep DP groups rail-aligned",
    "pp": "pipeline sends are exposed: fewer stages or more micro-batches",
    "compute": "compute-bound: the layout is communication-efficient; more GPUs or lower "
    "precision (fp8) shorten the step",
    "bubble": "pipeline bubble dominates: more micro-batches, interleaving (vpp), or smaller pp",
    "optimizer": "optimizer step dominates: shard it with ZeRO-1 or larger global batches",
    "encoder": "online VAE/text encoding dominates: pre-extract latents and text embeddings",
}
SIGNIFICANT = 0.05  # a term below 5% of compute is not called a bottleneck


def dim_name(dim: str) -> str:
    """Report sub-groups under their parallel dimension (USP parts are SP; dp×sp is DP)."""
    return {"ulysses": "sp", "ring": "sp", "dp_sp": "dp"}.get(dim, dim)


def find_bottleneck(exposed: dict[ExposedKey, float], breakdown: Breakdown) -> Bottleneck:
    """The largest exposed collective, unless a non-communication term is larger."""
    comm_key, comm_s = max(exposed.items(), key=lambda kv: kv[1], default=(("dp", "-", "-"), 0.0))
    others = {
        "bubble": breakdown.bubble_s,
        "optimizer": breakdown.optimizer_s,
        "encoder": breakdown.encoder_s,
    }
    other_dim, other_s = max(others.items(), key=lambda kv: kv[1])
    floor = SIGNIFICANT * breakdown.compute_s
    if comm_s >= other_s and comm_s > floor:
        dim, collective, tier = comm_key
        return Bottleneck(dim=dim, collective=collective, tier=tier, exposed_s=comm_s,
                          advice=ADVICE[dim])  # fmt: skip
    if other_s > floor:
        return Bottleneck(dim=other_dim, collective="-", tier="-", exposed_s=other_s,
                          advice=ADVICE[other_dim])  # fmt: skip
    return Bottleneck(dim="compute", collective="-", tier="-", exposed_s=0.0,
                      advice=ADVICE["compute"])  # fmt: skip
