"""The parallel layouts: each a `Mixer` that runs a block's sub-layers on this rank's shard.

Which code runs each piece is in `IMPLEMENTATION` (reported by `parplan smoke`). Input and
output layouts: `shard(full)` cuts this rank's part out of a full (b, N, d) tensor, so the
reference output of one process can be compared slice by slice.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

from parplan.smoke.comm import (
    BackwardLabel,
    CopyToTP,
    GatherSeq,
    Grid,
    ReduceFromTP,
    ReduceScatterSeq,
    all_to_all,
    comm_label,
)
from parplan.smoke.config import SmokeConfig
from parplan.smoke.fastseq import fastseq_qkv
from parplan.smoke.model import DiTBlock, Mixer, attend, heads_view
from parplan.smoke.ring import ring_attention

IMPLEMENTATION = {
    "model": "parplan.smoke.model.SmokeDiT (adaLN-Zero DiT blocks, fp32, SDPA)",
    "ulysses": "deepspeed.sequence.layer.DistributedAttention (q/k/v/out all-to-all)",
    "ring": "parplan.smoke.ring.RingAttention (isend/irecv K,V ring, LSE merge, custom bwd)",
    "fastseq": "parplan.smoke.fastseq.FastSeqQKV (P2P ring all-gather overlapped with the "
    "head-sliced QKV GEMM; ring reduce-scatter of dx in bwd) + all_to_all_single of the output",
    "usp": "deepspeed.sequence.layer.DistributedAttention over the ulysses group wrapping "
    "parplan.smoke.ring.RingAttention over the ring group",
    "dsp": "parplan.smoke.parallel.DspMixer (one all_to_all_single per spatial/temporal switch)",
    "tp": "parplan.smoke.parallel.TensorParallelMixer (Megatron f/g: column/row parallel, "
    "all_reduce; adaLN modulation replicated)",
    "tp+megatron_sp": "parplan.smoke.parallel.TensorParallelMixer (all_gather_into_tensor / "
    "reduce_scatter_tensor on tokens; replicated-param grads all_reduce over tp)",
    "dp": "parplan.smoke.grads.GradSync (one flat all_reduce of all grads over dp x sp)",
    "zero2": "parplan.smoke.grads.GradSync (own ZeRO-2: flat padded grad reduce_scatter_tensor, "
    "sharded SGD step, all_gather_into_tensor of the updated params; not DeepSpeed's engine)",
}


def seq_slice(t: torch.Tensor, index: int, parts: int) -> torch.Tensor:
    """Contiguous token chunk `index` of `parts` from a (b, N, ...) tensor."""
    return t.chunk(parts, dim=1)[index]


class ShardedMixer(Mixer):
    """Base for layouts that split tokens contiguously over a group of `parts` ranks."""

    def __init__(self, frames: int, index: int, parts: int) -> None:
        super().__init__(frames)
        self.index, self.parts = index, parts

    def shard(self, full: torch.Tensor) -> torch.Tensor:
        return seq_slice(full, self.index, self.parts)


# ------------------------------------------------------------------------- sequence parallel


def init_deepspeed_comm(backend: str = "gloo") -> None:
    """DeepSpeed's comm backend on top of our process group, skipping the shm op JIT build.

    `deepspeed.init_distributed` would JIT-compile `deepspeed_shm_comm` (27-48 s cold) although
    neither gloo nor nccl uses it (envcheck.md §2); `deepspeed.comm` re-exports `torch`, hence
    sys.modules.
    """
    import deepspeed

    sys.modules["deepspeed.comm.torch"].build_shm_op = lambda: None
    deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False, verbose=False)


class _LocalAttention(nn.Module):
    """What DistributedAttention calls on (b, n, h/p, dh): softmax attention per block type."""

    def forward(self, q, k, v, block_type: str = "full", frames: int = 1):
        return attend(q, k, v, block_type, frames)


class _RingLocalAttention(nn.Module):
    def __init__(self, group) -> None:
        super().__init__()
        self.group = group

    def forward(self, q, k, v, block_type: str = "full", frames: int = 1):
        return ring_attention(q, k, v, self.group)


def _qkv(blk: DiTBlock, h: torch.Tensor):
    a = blk.attn
    return tuple(heads_view(lin(h), a.heads) for lin in (a.q, a.k, a.v))


class UlyssesMixer(ShardedMixer):
    """DeepSpeed-Ulysses; with a ring group it is USP (ring attention inside each head group)."""

    def __init__(self, cfg: SmokeConfig, grid: Grid) -> None:
        super().__init__(cfg.frames, grid.group_rank("sp"), grid.size("sp"))
        from deepspeed.sequence.layer import DistributedAttention

        init_deepspeed_comm()
        usp = cfg.strategy.sp_method == "usp"
        ring = grid.group("ring") if usp else None
        local = _RingLocalAttention(ring) if ring is not None else _LocalAttention()
        group = grid.group("ulysses") if usp else grid.group("sp")
        self.label = "ulysses"
        self.attn = (
            DistributedAttention(local, group, scatter_idx=2, gather_idx=1) if group else None
        )
        self.local = local

    def self_attention(self, blk: DiTBlock, h: torch.Tensor) -> torch.Tensor:
        q, k, v = _qkv(blk, h)
        kw = {"block_type": blk.block_type, "frames": self.frames}
        if self.attn is None:  # usp with ulysses=1: ring only
            out = self.local(q, k, v, **kw)
        else:
            q, k, v = BackwardLabel.apply(self.label, False, q, k, v)
            with comm_label(self.label):
                out = self.attn(q, k, v, 0, **kw)
            (out,) = BackwardLabel.apply(self.label, True, out)
        return blk.attn.out(out.flatten(2))


class RingMixer(ShardedMixer):
    def __init__(self, cfg: SmokeConfig, grid: Grid) -> None:
        super().__init__(cfg.frames, grid.group_rank("sp"), grid.size("sp"))
        self.group = grid.group("sp")

    def self_attention(self, blk: DiTBlock, h: torch.Tensor) -> torch.Tensor:
        q, k, v = _qkv(blk, h)
        return blk.attn.out(ring_attention(q, k, v, self.group).flatten(2))


class FastSeqMixer(ShardedMixer):
    """Each rank projects Q,K,V of its a/p heads over the ring-gathered sequence."""

    def __init__(self, cfg: SmokeConfig, grid: Grid) -> None:
        super().__init__(cfg.frames, grid.group_rank("sp"), grid.size("sp"))
        self.group = grid.group("sp")
        self.width = cfg.hidden // self.parts  # a/p heads x head_dim

    def self_attention(self, blk: DiTBlock, h: torch.Tensor) -> torch.Tensor:
        a, rows = blk.attn, slice(self.index * self.width, (self.index + 1) * self.width)
        weights = [t for lin in (a.q, a.k, a.v) for t in (lin.weight[rows], lin.bias[rows])]
        q, k, v = fastseq_qkv(h, weights, self.group)
        heads = a.heads // self.parts
        out = attend(*(heads_view(t, heads) for t in (q, k, v)), blk.block_type, self.frames)
        out = all_to_all(out.flatten(2), self.group, scatter=1, gather=2, label="fastseq.out")
        return a.out(out)


class DspMixer(Mixer):
    """Spatial blocks sharded on frames, temporal blocks on positions; one all-to-all between."""

    def __init__(self, cfg: SmokeConfig, grid: Grid) -> None:
        super().__init__(cfg.frames)
        self.group, self.index, self.parts = (
            grid.group("sp"),
            grid.group_rank("sp"),
            grid.size("sp"),
        )
        self.total_frames, self.positions = cfg.frames, cfg.tokens_per_frame
        self.first = self.layout = self._needs(cfg.blocks[0])
        self.frames = self._local_frames()

    @staticmethod
    def _needs(block_type: str) -> str:
        return "frames" if block_type == "spatial" else "positions"

    def _local_frames(self) -> int:
        return self.total_frames // self.parts if self.layout == "frames" else self.total_frames

    def shard(self, full: torch.Tensor) -> torch.Tensor:
        b, d = full.shape[0], full.shape[-1]
        grid = full.reshape(b, self.total_frames, self.positions, d)
        dim = 1 if self.layout == "frames" else 2
        return grid.chunk(self.parts, dim=dim)[self.index].reshape(b, -1, d)

    def enter_block(self, index: int, block_type: str, x: torch.Tensor) -> torch.Tensor:
        need = self._needs(block_type)
        if index == 0:  # every forward starts in the first block's layout (see `shard`)
            self.first = self.layout = need
            self.frames = self._local_frames()
        return self._switch(x, need)

    def leave_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """Back to the entry layout, as Open-Sora's DSP returns the sequence sharded on frames."""
        return self._switch(x, self.first)

    def _switch(self, x: torch.Tensor, need: str) -> torch.Tensor:
        if need == self.layout:
            return x
        b, d = x.shape[0], x.shape[-1]
        grid = x.reshape(b, self.frames, -1, d)
        scatter, gather = (2, 1) if need == "positions" else (1, 2)
        x = all_to_all(grid, self.group, scatter, gather, label="dsp.switch")
        self.layout = need
        self.frames = self._local_frames()
        return x.reshape(b, -1, d)


# --------------------------------------------------------------------------- tensor parallel


def tp_shard_dim(model: nn.Module, name: str) -> int | None:
    """Megatron split of parameter `name` from its layer's anatomy TP role (`torch_linear`):
    column-parallel weight and bias on dim 0, row-parallel weight on dim 1, None replicated
    (row-parallel biases, adaLN modulation, embedders)."""
    module_name, attr = name.rsplit(".", 1)
    role = getattr(model.get_submodule(module_name), "tp_role", "replicated")
    if role == "column":
        return 0
    return 1 if role == "row" and attr == "weight" else None


def shard_for_tp(model: nn.Module, grid: Grid) -> dict[str, tuple[int, int, int]]:
    """Replace every TP-split parameter by this rank's slice; return name -> (dim, parts, index)."""
    t, r = grid.size("tp"), grid.tp_rank
    shards: dict[str, tuple[int, int, int]] = {}
    for name, param in list(model.named_parameters()):
        dim = tp_shard_dim(model, name)
        if dim is None:
            continue
        module_name, attr = name.rsplit(".", 1)
        piece = param.detach().chunk(t, dim=dim)[r].clone()
        setattr(model.get_submodule(module_name), attr, nn.Parameter(piece))
        shards[name] = (dim, t, r)
    return shards


class TensorParallelMixer(ShardedMixer):
    """Megatron-LM TP (Shoeybi 2019 §3) and, with megatron_sp, Korthikanti 2022 §4.2.2."""

    def __init__(self, cfg: SmokeConfig, grid: Grid) -> None:
        self.sp = cfg.strategy.megatron_sp
        t = grid.size("tp")
        super().__init__(cfg.frames, grid.tp_rank if self.sp else 0, t if self.sp else 1)
        self.group, self.t = grid.group("tp"), t

    def _enter(self, x: torch.Tensor) -> torch.Tensor:
        if self.sp:
            return GatherSeq.apply(x, self.group, "tp.ag", "tp.rs")
        return CopyToTP.apply(x, self.group, "tp.ar")

    def _leave(self, partial: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        if self.sp:
            return ReduceScatterSeq.apply(partial, self.group, "tp.rs", "tp.ag") + bias
        return ReduceFromTP.apply(partial, self.group, "tp.ar") + bias

    def self_attention(self, blk: DiTBlock, h: torch.Tensor) -> torch.Tensor:
        a = blk.attn
        h = self._enter(h)
        q, k, v = (heads_view(lin(h), a.heads // self.t) for lin in (a.q, a.k, a.v))
        out = attend(q, k, v, blk.block_type, self.frames)
        return self._leave(F.linear(out.flatten(2), a.out.weight), a.out.bias)

    def cross_attention(self, blk: DiTBlock, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        a, heads = blk.cross, blk.cross.heads // self.t
        q = heads_view(a.q(self._enter(x)), heads)
        text = CopyToTP.apply(text, self.group, "tp.text_grad") if text.requires_grad else text
        k, v = (heads_view(lin(text), heads) for lin in (a.k, a.v))
        out = attend(q, k, v, "full", 1)
        return self._leave(F.linear(out.flatten(2), a.out.weight), a.out.bias)

    def mlp(self, blk: DiTBlock, h: torch.Tensor) -> torch.Tensor:
        hidden = F.gelu(blk.mlp.fc1(self._enter(h)))
        return self._leave(F.linear(hidden, blk.mlp.fc2.weight), blk.mlp.fc2.bias)


def build_mixer(cfg: SmokeConfig, grid: Grid) -> ShardedMixer | DspMixer:
    s = cfg.strategy
    if s.tp > 1:
        return TensorParallelMixer(cfg, grid)
    kinds = {
        "ulysses": UlyssesMixer,
        "usp": UlyssesMixer,
        "ring": RingMixer,
        "fastseq": FastSeqMixer,
        "dsp": DspMixer,
    }
    if s.sp > 1:
        return kinds[s.sp_method](cfg, grid)
    return ShardedMixer(cfg.frames, 0, 1)


def implementation_of(cfg: SmokeConfig) -> dict[str, str]:
    """Which code ran each piece of this layout."""
    s = cfg.strategy
    used = {"model": IMPLEMENTATION["model"]}
    if s.sp > 1:
        used["sp"] = IMPLEMENTATION[s.sp_method]
    if s.tp > 1:
        used["tp"] = IMPLEMENTATION["tp+megatron_sp" if s.megatron_sp else "tp"]
    if s.dp * s.sp > 1:
        used["dp"] = IMPLEMENTATION["zero2" if s.zero == 2 else "dp"]
    return used
