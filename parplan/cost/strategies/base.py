"""What every strategy module works on: the shape of one block's activations for one micro-batch.

X = micro_batch · rows · hidden · element_bytes is the byte size of one full-sequence activation
of one layer (../shared/reference/sequence_parallel.md §0); X_kv uses the K/V width (GQA).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BlockShape(BaseModel):
    """One block, one micro-batch, before any parallel split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    block_type: str
    micro_batch: int
    rows: int  # tokens in the self-attention sequence of one sample (N, or N+M for joint)
    hidden: int
    kv_width: int  # kv_heads * head_dim
    self_attentions: int  # 1, or 2 for spatial_temporal (spatial + temporal)
    cross_attention: bool
    text_rows: int  # M: text tokens that cross-attention reads (replicated conditioning)
    element_bytes: int
    params_replicated: int  # per-block params that TP does not split (modulation, norms)
    params_tp_sharded: int = 0  # per-block params that Megatron TP splits
    score_elements: float = 0.0  # s x s attention scores of all its attentions (unfused kernels)

    def params_per_tp_rank(self, tp: int) -> int:
        return self.params_tp_sharded // tp + self.params_replicated

    @property
    def x_bytes(self) -> float:
        return float(self.micro_batch * self.rows * self.hidden * self.element_bytes)

    @property
    def x_kv_bytes(self) -> float:
        return float(self.micro_batch * self.rows * self.kv_width * self.element_bytes)

    @property
    def text_bytes(self) -> float:
        return float(self.micro_batch * self.text_rows * self.hidden * self.element_bytes)

    @property
    def sublayers(self) -> int:
        """Row-parallel sublayers: each self-attention, the cross-attention, and the MLP."""
        return self.self_attentions + int(self.cross_attention) + 1
