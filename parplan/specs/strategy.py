"""Strategy specs (SPEC_FORMAT.md "Strategy"): degrees, SP method, ZeRO, checkpointing, rank
order, and the software stack that runs them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from parplan.errors import SpecError
from parplan.specs.base import (
    AttentionKernel,
    BlockType,
    CkptMode,
    ParallelDim,
    PosInt,
    Precision,
    Spec,
    SpMethod,
)

ZeroImpl = Literal["fsdp", "deepspeed", "megatron"]


class StackSpec(Spec):
    """How the training code executes the layout where that changes the cost (SPEC_FORMAT.md,
    `strategy.stack`). The defaults describe plain PyTorch: FlashAttention-2 (SDPA's flash
    backend), eager elementwise kernels, no TP overlap; the planner keeps what the user gives."""

    # flash2 | flash3 | cudnn: fused attention, the s x s scores never reach HBM
    # (FlashAttention-2 / PyTorch SDPA, FlashAttention-3, cuDNN fused attention as Transformer
    # Engine picks it on Hopper); unfused: QK^T and AV as batched GEMMs with softmax (and
    # dropout) passes over the s x s scores in HBM (Megatron-LM CoreAttention before
    # FlashAttention, PyTorch's math path).
    attention: AttentionKernel = "flash2"
    attention_dropout: bool = False  # unfused only: dropout on the scores (Megatron GPT: 0.1)
    tp_comm_overlap: bool = False  # Megatron-Core --tp-comm-overlap (TE userbuffers)
    # eager: one PyTorch kernel per op; fused: torch.compile / Transformer Engine / apex
    elementwise: Literal["eager", "fused"] = "eager"
    # online text encoder's precision; None: the workload's (Open-Sora v1.0/1.1 run T5 in fp32)
    text_encoder_precision: Precision | None = None
    # parplan extension (docs/spec_extensions.md): which data-parallel / ZeRO implementation
    # issues the DP collectives, i.e. how many calls a step makes (cost/strategies/zero_impl.py):
    # megatron (Megatron-Core DDP / distributed optimizer: max(4e7, 1e6*dp)-parameter buckets;
    # ZeRO-3 as Megatron-FSDP, one gather per layer), fsdp (PyTorch DDP 25 MiB buckets; FSDP2
    # one gather / reduce-scatter per wrapped block), deepspeed (one ZeRO-3 gather per
    # parameter-holding submodule, 5e8-element buckets). The default is what the validation
    # cases run (30 of 38 are Megatron) and closest to the per-layer buckets charged before.
    zero_impl: ZeroImpl = "megatron"

    @property
    def fused_attention(self) -> bool:
        """Scores stay on chip (every kernel but `unfused`): ring attention can run blockwise."""
        return self.attention != "unfused"

    @model_validator(mode="after")
    def _check(self) -> StackSpec:
        if self.attention_dropout and self.fused_attention:
            raise ValueError(
                "attention_dropout adds passes over stored scores; it needs attention: unfused "
                f"({self.attention} fuses dropout into the kernel)"
            )
        return self


class StrategySpec(Spec):
    dp: PosInt = 1
    tp: PosInt = 1
    pp: PosInt = 1
    vpp: PosInt = 1
    sp: PosInt = 1
    sp_method: SpMethod = "none"
    # extension (docs/spec_extensions.md): an SP method per block type; None = sp_method everywhere
    sp_methods: dict[BlockType, SpMethod] | None = None
    ulysses: PosInt = 1
    ring: PosInt = 1
    megatron_sp: bool = False
    zero: Literal[0, 1, 2, 3] = 0
    ckpt: CkptMode | list[CkptMode] = "none"
    micro_batch: PosInt = 1
    global_batch: PosInt | None = None
    order: list[ParallelDim] = Field(default_factory=lambda: ["tp", "sp", "dp", "pp"])
    stack: StackSpec = Field(default_factory=StackSpec)

    @model_validator(mode="after")
    def _check_shape(self) -> StrategySpec:
        if sorted(self.order) != ["dp", "pp", "sp", "tp"]:
            raise ValueError(f"order={self.order} must be a permutation of [tp, sp, dp, pp]")
        if self.sp > 1 and self.sp_method == "none":
            raise ValueError(f"sp={self.sp} needs sp_method (ulysses|ring|fastseq|usp|dsp)")
        if self.sp == 1 and self.sp_method not in ("none",):
            # sp_method with sp=1 is harmless but meaningless; normalise by rejecting.
            raise ValueError(f"sp_method={self.sp_method} needs sp > 1 (or sp_method: none)")
        _check_sp_methods(self)
        if "usp" in self.methods_used and self.ulysses * self.ring != self.sp:
            raise ValueError(
                f"ulysses*ring = {self.ulysses}*{self.ring} = {self.ulysses * self.ring}, "
                f"but sp = {self.sp}"
            )
        ring_methods = {"ring"} | ({"usp"} if self.ring > 1 else set())
        if self.stack.attention == "unfused" and ring_methods & self.methods_used:
            used = sorted(ring_methods & self.methods_used)
            raise ValueError(
                f"SP method(s) {used} run ring attention, which is blockwise (flash) attention; "
                "use a fused stack.attention (flash2|flash3|cudnn), or ulysses/fastseq/dsp"
            )
        if self.megatron_sp and self.tp == 1:
            raise ValueError("megatron_sp=true needs tp > 1 (it shards TP's norms and dropout)")
        if "usp" not in self.methods_used and (self.ulysses, self.ring) != (1, 1):
            raise ValueError("ulysses/ring degrees are only for sp_method=usp")
        if self.global_batch is not None and self.global_batch % (self.dp * self.micro_batch):
            raise ValueError(
                f"dp*micro_batch = {self.dp}*{self.micro_batch} = {self.dp * self.micro_batch} "
                f"must divide global_batch = {self.global_batch}"
            )
        return self

    @property
    def world_size(self) -> int:
        return self.dp * self.tp * self.pp * self.sp

    @property
    def methods_used(self) -> set[str]:
        """sp_method and every per-block-type method of `sp_methods`."""
        return {self.sp_method, *(self.sp_methods or {}).values()}

    @property
    def ulysses_degree(self) -> int:
        """Ulysses part of SP (the whole SP for ulysses/fastseq/dsp, the inner axis for usp)."""
        if self.sp_method == "usp":
            return self.ulysses
        return self.sp if self.sp_method in ("ulysses", "fastseq", "dsp") else 1

    @property
    def ring_degree(self) -> int:
        if self.sp_method == "usp":
            return self.ring
        return self.sp if self.sp_method == "ring" else 1

    def ckpt_for(self, block_index: int) -> CkptMode:
        if isinstance(self.ckpt, str):
            return self.ckpt
        return self.ckpt[block_index]


def _check_sp_methods(s: StrategySpec) -> None:
    """`sp_methods` names real SP methods and needs SP; model-dependent rules (block types the
    model has, divisibility per type) are checked in layout.py against the model."""
    for block_type, method in (s.sp_methods or {}).items():
        if method == "none":
            raise ValueError(
                f"sp_methods.{block_type}=none: give an SP method (ulysses|ring|fastseq|usp|dsp) "
                "or leave the type out to use sp_method"
            )
        if s.sp == 1:
            raise ValueError(f"sp_methods.{block_type}={method} needs sp > 1 (or drop sp_methods)")


def check_degrees(strategy: StrategySpec, num_gpus: int) -> None:
    """Degrees must multiply to the GPU count; print every factor when they don't."""
    s = strategy
    if s.world_size != num_gpus:
        raise SpecError(
            f"dp*tp*sp*pp = {s.dp}*{s.tp}*{s.sp}*{s.pp} = {s.world_size}, "
            f"but the run has {num_gpus} GPUs"
        )
