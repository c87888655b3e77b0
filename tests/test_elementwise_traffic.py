"""Independent check of the block anatomy's memory-bound ops (parplan/model/traffic.py), eager and
fused, for a DiT block, a FLUX single-stream block (with and without qk-norm) and a Llama block
(RMSNorm over fp32 kernels, complex rotary, SwiGLU), op kind by op kind or in total.

What is measured
----------------
A reference DiT block, written here exactly like facebookresearch/DiT `models.py` `DiTBlock`
(adaLN-Zero; `modulate(x, shift, scale) = x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)`;
LayerNorm without affine, eps 1e-6; timm-style Attention with a fused `qkv` Linear,
`F.scaled_dot_product_attention` and `.transpose(1, 2).reshape(B, N, C)`; Mlp
Linear -> GELU(tanh) -> Linear), runs one forward under
`torch.autocast("cpu", dtype=torch.bfloat16)` with fp32 `x` and fp32 `c`. A
`TorchDispatchMode` (envcheck.md §4: every aten op passes through it) adds, for each aten op,
the bytes of its tensor inputs (read) and tensor outputs (written), leaving out:

* matmul-like ops (mm, addmm, bmm, baddbmm, linear, matmul): GEMM time, not memory-bound;
* attention: every op whose name holds "attention", "sdpa" or "flash" (on CPU the fused kernel
  is `_scaled_dot_product_flash_attention_for_cpu`, envcheck.md §6), and every op issued while
  `F.scaled_dot_product_attention` runs (a `TorchFunctionMode` marks that region, so the
  unfused math backend's internal mul/softmax/clone also count as attention);
* views / metadata ops: an op whose schema says its outputs alias an input without writing
  it (`alias_info` set, `is_write` false: view, permute, transpose, unbind, split, select,
  slice, expand, unsqueeze, t, detach, alias), plus `_unsafe_view` (it returns a view of a
  fresh tensor, but its schema carries no alias annotation);
* ops with no token dimension: the op is counted only if one of its tensors has shape
  `(B, N, ...)`. This drops the per-sample adaLN path (SiLU, the (B, d) -> (B, 6d) Linear,
  `1 + scale`, all of shape (B, ...) without N) and autocast's fp32 -> bf16 copies of the
  weights (per step, proportional to parameters, not tokens). The rule is by shape rather
  than the numel >= B*N*d/2 threshold because the weight casts (e.g. 6d x d = 24,576
  elements) pass any numel threshold. B=2 and N=32 differ from every weight dimension, so
  the rule is unambiguous here.

Within a counted op each tensor is put in one of three buckets: "wide" (token-dimensioned,
numel >= B*N*d/2: what the cost model counts), "per-token scalars" (token-dimensioned but
narrow: LayerNorm's mean and rstd, fp32, 2 per row) and "per-sample operands" (the (B, 1, d)
shift/scale/gate broadcast into a token op; their bytes per token fall as 1/N). Only "wide"
bytes are compared with the model; the other two are printed.

Is the CPU measurement what CUDA autocast does? (PyTorch "Autocast Op Reference",
https://pytorch.org/docs/stable/amp.html#autocast-op-reference)
------------------------------------------------------------------------------------------
* linear/addmm/mm/bmm are in the lower-precision lists of both CPU and CUDA autocast: every
  Linear (the adaLN Linear included) casts its input and weight to bf16 and writes bf16.
* layer_norm is in CUDA's fp32 list; on CPU it is in neither list, so it runs in its input
  type. Its input here is the fp32 residual stream, so it runs fp32 on both (the trace shows
  fp32 in and out): identical traffic.
* mul, add and gelu are in no autocast list on either device: they run in the type their
  inputs promote to. modulate = fp32 normed x times/plus a bf16 (B, 1, d) adaLN chunk ->
  fp32; gate = bf16 adaLN chunk times the bf16 GEMM output -> bf16; residual = fp32 x plus
  that bf16 branch -> fp32 (reads 4 + 2 bytes, writes 4); GELU on the bf16 FC1 output ->
  bf16. Same on both devices. (On CPU TensorIterator may make a hidden converted copy of a
  mixed-dtype operand inside the kernel; it is not a dispatched op, so the count is the
  kernel's interface traffic, which is what a CUDA kernel with in-register casting moves.)
* The one device/kernel-dependent term is the attention output layout. CPU's fused kernel
  (`_scaled_dot_product_flash_attention_for_cpu`, chosen by default here) writes its output
  laid out (B, N, H, D) and returns it transposed to (B, H, N, D) (its stride is checked
  below), so the block's `.transpose(1, 2).reshape(B, N, C)` is a free view: no copy. The
  CUDA flash and memory-efficient paths do the same (pytorch/pytorch
  aten/src/ATen/native/transformers/cuda/attention.cu: `_efficient_attention_forward`
  allocates `res` as `{B, M, num_heads, Kv}`, and `_scaled_dot_product_flash_attention_cuda`
  views the flash output as (B, N, H, D) and returns `.transpose(1, 2)`; read in stored
  snapshots of that file, not in the 2.13 source, and cuDNN attention not checked). Only the
  unfused math backend returns a contiguous (B, H, N, D) tensor, and then the reshape copies
  2d elements at e bytes per token; `test_transpose_copy_appears_only_with_unfused_sdpa`
  measures that with `SDPBackend.MATH`.

So the default-backend CPU measurement is taken as the comparable number for a CUDA bf16 run
on the flash / memory-efficient path.

History: the first run of this measurement (d=64, e=2) found the model 15.4% high: it counted
the gate multiply at 4 bytes (it runs on two bf16 operands), the residual add's branch operand
at 4 bytes (it is bf16), and a transpose copy that fused SDPA kernels do not make. The model
was corrected to these rules; `test_model_total_equals_measured` now requires equality with
both backends (the model's `attention: flash` and `unfused`). LayerNorm's mean/rstd
(16 B/token) and the (B, 1, d) operands (falling as 1/N) are printed, not modelled.
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest

torch = pytest.importorskip("torch")  # the smoke/test extra; the planner itself needs no torch

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_flatten  # noqa: E402

from parplan.cost.block import ELEMENTWISE_BWD_OVER_FWD  # noqa: E402
from parplan.model.anatomy import BlockAnatomy, Sublayer  # noqa: E402
from parplan.model.blocks import block_anatomy  # noqa: E402
from parplan.model.traffic import pointwise_traffic, stream_bytes  # noqa: E402
from parplan.specs import load_model  # noqa: E402

B, N, D, HEADS = 2, 32, 64, 4
E = 2  # bf16
F32 = 4
FFN = 4 * D

# ----------------------------------------------------------------- reference DiT block


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Attention(nn.Module):
    """timm `Attention` (fused_attn path) as DiT uses it: qkv_bias=True, no qk-norm."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B_, N_, C = x.shape
        qkv = self.qkv(x).reshape(B_, N_, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        x = x.transpose(1, 2).reshape(B_, N_, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    """facebookresearch/DiT models.py DiTBlock (adaLN-Zero conditioning)."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x, c):
        mod = self.adaLN_modulation(c)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class RMSNorm(nn.Module):
    """black-forest-labs/flux src/flux/modules/layers.py RMSNorm (fp32 scale parameter)."""

    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x_dtype = x.dtype
        x = x.float()
        rrms = torch.rsqrt(torch.mean(x**2, dim=-1, keepdim=True) + 1e-6)
        return (x * rrms).to(dtype=x_dtype) * self.scale


class SingleStreamBlock(nn.Module):
    """black-forest-labs/flux src/flux/modules/layers.py SingleStreamBlock (HunyuanVideo's
    MMSingleStreamBlock is the same), without RoPE: linear1 = [qkv, mlp] fused, (QKNorm:
    RMSNorm on q and k, then `q.to(v), k.to(v)`), attention and GELU(mlp) concatenated into
    linear2, one modulation (shift, scale, gate)."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0,
                 qk_norm: bool = False):  # fmt: skip
        super().__init__()
        self.hidden_size, self.num_heads = hidden_size, num_heads
        self.mlp_hidden_dim = int(hidden_size * mlp_ratio)
        self.linear1 = nn.Linear(hidden_size, hidden_size * 3 + self.mlp_hidden_dim)
        self.linear2 = nn.Linear(hidden_size + self.mlp_hidden_dim, hidden_size)
        self.pre_norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp_act = nn.GELU(approximate="tanh")
        self.modulation = nn.Linear(hidden_size, 3 * hidden_size)
        head_dim = hidden_size // num_heads
        self.norms = (RMSNorm(head_dim), RMSNorm(head_dim)) if qk_norm else None

    def forward(self, x, c):
        shift, scale, gate = self.modulation(F.silu(c)).unsqueeze(1).chunk(3, dim=-1)
        x_mod = (1 + scale) * self.pre_norm(x) + shift
        qkv, mlp = torch.split(self.linear1(x_mod), [3 * self.hidden_size, self.mlp_hidden_dim], -1)
        b, n, _ = qkv.shape
        q, k, v = qkv.reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        if self.norms is not None:  # QKNorm
            q, k = self.norms[0](q).to(v), self.norms[1](k).to(v)
        attn = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, -1)
        output = self.linear2(torch.cat((attn, self.mlp_act(mlp)), 2))
        return x + gate * output


class LlamaRMSNorm(nn.Module):
    """meta-llama/llama3 llama/model.py RMSNorm."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def _norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x):
        return self._norm(x.float()).type_as(x) * self.weight


def apply_rotary_emb(xq, xk, freqs_cis):
    """meta-llama/llama3 llama/model.py apply_rotary_emb (reshape_for_broadcast inlined)."""
    xq_ = torch.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
    xk_ = torch.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2))
    freqs_cis = freqs_cis.view(1, xq_.shape[1], 1, xq_.shape[-1])
    xq_out = torch.view_as_real(xq_ * freqs_cis).flatten(3)
    xk_out = torch.view_as_real(xk_ * freqs_cis).flatten(3)
    return xq_out.type_as(xq), xk_out.type_as(xk)


class LlamaBlock(nn.Module):
    """meta-llama/llama3 llama/model.py TransformerBlock as torchtitan's eager Llama runs it
    (SDPA, causal; MHA so that k is as wide as q): h = x + attention(attention_norm(x)),
    out = h + w2(silu(w1(y)) * w3(y)), y = ffn_norm(h), with w1 and w3 as one linear (Megatron's
    linear_fc1, the anatomy's fc1): eager the same bytes; separate, a fusion by program order
    would put the w3 GEMM between silu and the multiply."""

    def __init__(self, dim: int, n_heads: int, ffn: int):
        super().__init__()
        self.n_heads, self.head_dim = n_heads, dim // n_heads
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(dim, dim, bias=False) for _ in range(4))
        self.w13 = nn.Linear(dim, 2 * ffn, bias=False)
        self.w2 = nn.Linear(ffn, dim, bias=False)
        self.attention_norm, self.ffn_norm = LlamaRMSNorm(dim), LlamaRMSNorm(dim)
        freqs = 1.0 / (10000.0 ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        angles = torch.outer(torch.arange(N).float(), freqs)
        self.freqs_cis = torch.polar(torch.ones_like(angles), angles)  # (N, head_dim / 2)

    def attention(self, x):
        b, n, _ = x.shape
        q, k, v = (w(x).view(b, n, self.n_heads, self.head_dim) for w in (self.wq, self.wk, self.wv))
        q, k = apply_rotary_emb(q, k, self.freqs_cis)
        out = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)), is_causal=True)
        return self.wo(out.transpose(1, 2).contiguous().view(b, n, -1))

    def forward(self, x, c=None):
        h = x + self.attention(self.attention_norm(x))
        gate, up = self.w13(self.ffn_norm(h)).chunk(2, dim=-1)
        return h + self.w2(F.silu(gate) * up)


# ----------------------------------------------------------------------- the counter

MATMUL_OPS = {"mm", "addmm", "bmm", "baddbmm", "linear", "matmul", "addbmm"}
ATTENTION_MARKERS = ("attention", "sdpa", "flash")
FRESH_VIEW_OPS = {"_unsafe_view"}  # returns a view, schema has no alias annotation
CATEGORIES = ("layernorm", "modulate", "gemm_input_cast", "gate", "residual_add",
              "layout_copy", "gelu", "concat")  # fmt: skip


def _tensors(tree) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _is_token(t: torch.Tensor) -> bool:
    """(B, N, ...) tokens-major, or (B, H, N, ...) heads-major (FLUX's q and k)."""
    return t.dim() >= 2 and t.shape[0] == B and N in tuple(t.shape[1:3])


def _is_wide(t: torch.Tensor) -> bool:
    return _is_token(t) and t.numel() >= B * N * D // 2


def _is_view_op(func) -> bool:
    if func._schema.name.split("::")[-1] in FRESH_VIEW_OPS:
        return True
    infos = [r.alias_info for r in func._schema.returns]
    return any(i is not None and not i.is_write for i in infos)


class _AttentionRegion(TorchFunctionMode):
    """Marks the span of F.scaled_dot_product_attention for the dispatch-level counter."""

    def __init__(self):
        super().__init__()
        self.depth = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.scaled_dot_product_attention:
            self.depth += 1
            try:
                return func(*args, **(kwargs or {}))
            finally:
                self.depth -= 1
        return func(*args, **(kwargs or {}))


class _TrafficCounter(TorchDispatchMode):
    def __init__(self, region: _AttentionRegion):
        super().__init__()
        self.region = region
        self.gemm_out_ptrs: set[int] = set()
        self.wide = dict.fromkeys(CATEGORIES, 0)
        self.token_scalars = 0  # LayerNorm mean/rstd
        self.per_sample = 0  # (B, 1, d) operands broadcast into token ops
        self.excluded_no_token: dict[str, int] = {}
        self.other: list[str] = []
        self.attention_ops: list[str] = []
        self.fused_out_strides: list[tuple[int, ...]] = []
        self.layout_copy_src_strides: list[tuple[int, ...]] = []
        self.kernels = 0  # counted ops that move a wide tensor

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func._schema.name.split("::")[-1]
        ins, outs = _tensors((args, kwargs)), _tensors(out)
        if _is_view_op(func):
            return out
        # provenance of GEMM outputs by address: a fresh output of any other op may reuse a
        # freed GEMM output's memory, so it drops that address
        if name in MATMUL_OPS:
            self.gemm_out_ptrs.update(t.data_ptr() for t in outs)
        else:
            self.gemm_out_ptrs.difference_update(t.data_ptr() for t in outs)
        if self.region.depth or any(m in name for m in ATTENTION_MARKERS):
            self.attention_ops.append(name)
            if "flash" in name or "efficient" in name:
                self.fused_out_strides.append(outs[0].stride())
            return out
        if name in MATMUL_OPS:
            return out
        if not any(_is_token(t) for t in ins + outs):
            self.excluded_no_token[name] = self.excluded_no_token.get(name, 0) + sum(
                _nbytes(t) for t in ins + outs
            )
            return out
        category = self._category(name, ins, outs)
        self.kernels += any(_is_wide(t) for t in ins + outs)
        for t in ins + outs:
            if _is_wide(t):
                self.wide[category] += _nbytes(t)
            elif _is_token(t):
                self.token_scalars += _nbytes(t)
            else:
                self.per_sample += _nbytes(t)
        return out

    def _category(self, name: str, ins: list[torch.Tensor], outs: list[torch.Tensor]) -> str:
        if name == "native_layer_norm":
            return "layernorm"
        if name == "_to_copy":
            return "gemm_input_cast"
        if name == "gelu":
            return "gelu"
        if name == "cat":
            return "concat"
        if name in ("clone", "copy_", "contiguous", "_reshape_copy"):
            self.layout_copy_src_strides += [t.stride() for t in ins]
            return "layout_copy"
        if name in ("mul", "add"):
            wide_in = [t for t in ins if _is_wide(t)]
            if len(wide_in) == 2:
                return "residual_add"
            if any(t.data_ptr() in self.gemm_out_ptrs for t in wide_in):
                return "gate"
            return "modulate"
        self.other.append(name)
        return "layout_copy"  # unreachable in a clean run; `other` makes the test fail


def run_block(block: nn.Module, counter: TorchDispatchMode, region: _AttentionRegion, *,
              backend: SDPBackend | None = None, autocast: bool = True) -> torch.Tensor:  # fmt: skip
    """One forward under `counter`: DiT code under bf16 autocast on an fp32 stream (x as after
    DiT's x_embedder + pos_embed, c as t_embedder + y_embedder); Llama code all bf16."""
    torch.manual_seed(1)
    dtype = torch.float32 if autocast else torch.bfloat16
    x, c = torch.randn(B, N, D, dtype=dtype), torch.randn(B, D, dtype=dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        with sdpa_kernel(backend) if backend else nullcontext(), region, counter:
            y = block(x, c)
    assert y.dtype == dtype and y.shape == (B, N, D)
    return y


def make_block(block_class: type = DiTBlock, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    if block_class is LlamaBlock:
        return LlamaBlock(D, HEADS, FFN).to(torch.bfloat16)
    return block_class(D, HEADS, **kwargs)


def measure(backend: SDPBackend | None = None, block_class: type = DiTBlock,
            **kwargs) -> _TrafficCounter:  # fmt: skip
    region = _AttentionRegion()
    counter = _TrafficCounter(region)
    run_block(make_block(block_class, **kwargs), counter, region, backend=backend,
              autocast=block_class is not LlamaBlock)  # fmt: skip
    return counter


def measure_backward() -> tuple[_TrafficCounter, _TrafficCounter]:
    """Forward and backward of one block, each under its own counter (same rules; the backward's
    ops are not classified by category, only their token-wide bytes are summed)."""
    torch.manual_seed(0)
    block = DiTBlock(D, HEADS)
    x = torch.randn(B, N, D, requires_grad=True)
    c = torch.randn(B, D, requires_grad=True)
    region = _AttentionRegion()
    fwd, bwd = _TrafficCounter(region), _TrafficCounter(region)
    with torch.autocast("cpu", dtype=torch.bfloat16), region, fwd:
        y = block(x, c)
    with region, bwd:
        y.backward(torch.randn_like(y))
    return fwd, bwd


# ---------------------------------------------------------------- expectation by rule

# Bytes per token of one block, forward, from the dtypes the autocast op reference gives
# (module docstring). Two modulated sublayers (attention, MLP).
RULE = {
    "layernorm": 2 * (F32 * D + F32 * D),  # r+w fp32
    "modulate": 2 * 2 * (F32 * D + F32 * D),  # mul, add: fp32 in, fp32 out
    "gemm_input_cast": 2 * (F32 * D + E * D),  # fp32 -> bf16 before qkv and fc1
    "gate": 2 * (E * D + E * D),  # bf16 gate x bf16 GEMM output -> bf16
    "residual_add": 2 * (F32 * D + E * D + F32 * D),  # fp32 x + bf16 branch -> fp32
    "layout_copy": 0,  # fused SDPA output is already tokens-major
    "gelu": E * FFN + E * FFN,  # r+w bf16 FC1 output
    "concat": 0,
}
LN_STATS = 2 * 2 * F32  # two LayerNorms x (mean, rstd) fp32 per row


KIND_OF_CATEGORY = {"layernorm": "norm", "modulate": "modulate", "gemm_input_cast": "cast",
                    "gate": "gate", "residual_add": "residual", "layout_copy": "copy",
                    "gelu": "activation", "concat": "copy"}  # fmt: skip


def ref_anatomy(model: dict) -> BlockAnatomy:
    """The anatomy of the first block of a small spec of this file's sizes."""
    spec = load_model({"name": "ref", "family": "dit", "heads": HEADS, **model})
    return block_anatomy(spec, spec.blocks[0].type)


def traffic(block: BlockAnatomy, *, fused: bool = False, stream: int = F32, unfused: bool = False):
    return pointwise_traffic(block, element_bytes=E, stream=stream, unfused=unfused, fused=fused)


def per_row(block: BlockAnatomy, **kwargs) -> int:
    """The anatomy's bytes per token (one stream, whole and TP-split together)."""
    (rows,) = traffic(block, **kwargs).rows
    return rows.whole + rows.split


def anatomy_breakdown(model: dict, *, unfused: bool = False, categories=CATEGORIES) -> dict:
    """Eager bytes per token by category: each of the anatomy's ops priced alone (a block of
    that one op) by parplan/model/traffic.py."""
    out = dict.fromkeys(categories, 0)
    for op in ref_anatomy(model).pointwise():
        if op.unfused_only and not unfused:
            continue
        category = next(c for c in categories if KIND_OF_CATEGORY[c] == op.kind
                        and (op.name == "concat") == (c == "concat"))  # fmt: skip
        one = BlockAnatomy(block_type="op", sublayers=(Sublayer(name="op", steps=(op,)),))
        out[category] += sum(r.whole + r.split for r in traffic(one, unfused=True).rows)
    return out


DIT_BLOCK = {"hidden": D, "blocks": [{"type": "full", "count": 1}]}
SINGLE_BLOCK = {**DIT_BLOCK, "extras": {"parallel_full_blocks": True}}


def _per_token(counter: _TrafficCounter) -> dict[str, float]:
    return {k: v / (B * N) for k, v in counter.wide.items()}


def _report(title: str, measured: dict[str, float], model: dict[str, int]) -> None:
    print(f"\n{title}  (bytes per token, forward, d={D}, e={E})")
    print(f"  {'category':<16}{'measured':>10}{'model':>10}{'diff':>8}")
    for k in model:
        print(f"  {k:<16}{measured[k]:>10.0f}{model[k]:>10}{model[k] - measured[k]:>8.0f}")
    mt, ot = sum(measured.values()), sum(model.values())
    print(f"  {'total':<16}{mt:>10.0f}{ot:>10}{ot - mt:>8.0f}  model/measured = {ot / mt:.4f}")


# ------------------------------------------------------------------------------ tests


def test_measured_traffic_follows_autocast_rules():
    """Self-check of the harness: every counted op is classified, and the per-category bytes
    are exactly what the autocast dtype rules give (default SDPA backend = CPU flash)."""
    counter = measure()
    assert counter.other == []
    assert "_scaled_dot_product_flash_attention_for_cpu" in counter.attention_ops
    # its (B, H, N, Dh) output is laid out (B, N, H, Dh): transpose(1, 2) is contiguous
    dh = D // HEADS
    assert counter.fused_out_strides == [(N * D, dh, D, 1)]
    measured = _per_token(counter)
    print("\nexcluded, no token dimension (whole block, bytes):", counter.excluded_no_token)
    print(f"per-token scalars (LayerNorm mean/rstd): {counter.token_scalars / (B * N):.1f} B/token")
    print(f"per-sample (B,1,d) operands read by token ops: {counter.per_sample / (B * N):.1f} "
          f"B/token at N={N} (falls as 1/N)")  # fmt: skip
    assert measured == RULE
    assert counter.token_scalars / (B * N) == LN_STATS
    # per sublayer, (1 + scale), shift and gate are each a (B, 1, d) bf16 operand read once
    assert counter.per_sample == 2 * 3 * B * D * E


def test_transpose_copy_appears_only_with_unfused_sdpa():
    """The math backend returns a contiguous (B, H, N, D) output, so the block's
    transpose+reshape copies it (2d at e bytes per token); the fused CPU kernel's output is
    already tokens-major and the reshape is a view. Nothing else changes."""
    fused, math = measure(), measure(SDPBackend.MATH)
    assert fused.wide["layout_copy"] == 0 and fused.layout_copy_src_strides == []
    assert math.other == []
    # the copied tensor is the (B, N, H, Dh) transpose of a contiguous (B, H, N, Dh) output
    dh = D // HEADS
    assert math.layout_copy_src_strides == [(HEADS * N * dh, dh, N * dh, 1)]
    m = _per_token(math)
    assert m["layout_copy"] == 2 * D * E
    assert {k: v for k, v in m.items() if k != "layout_copy"} == {
        k: v for k, v in RULE.items() if k != "layout_copy"
    }


def test_anatomy_ops_follow_the_autocast_rules():
    """The anatomy's DiT block moves, kind by kind, what the autocast rules above give."""
    assert anatomy_breakdown(DIT_BLOCK) == RULE
    unfused = anatomy_breakdown(DIT_BLOCK, unfused=True)
    assert unfused == RULE | {"layout_copy": 2 * D * E}


@pytest.mark.parametrize("backend", [None, SDPBackend.MATH])
def test_model_total_equals_measured(backend) -> None:
    """The anatomy's bytes per token equal the measured token-wide traffic, with the fused
    SDPA (`attention: flash2`) and with the math backend (`attention: unfused`)."""
    model = anatomy_breakdown(DIT_BLOCK, unfused=backend is not None)
    counter = measure(backend)
    measured = _per_token(counter)
    _report(f"SDPA backend {backend or 'default (fused)'} vs the anatomy", measured, model)
    print(f"  LayerNorm mean/rstd (not modelled): {counter.token_scalars / (B * N):.0f} B/token; "
          f"(B,1,d) operands at N={N}: {counter.per_sample / (B * N):.0f} B/token (falls as 1/N)")  # fmt: skip
    assert sum(model.values()) == pytest.approx(sum(measured.values()), rel=1e-12)


def test_model_backend_independent_terms_match():
    """Category by category, leaving out the SDPA-layout-dependent transpose copy."""
    model = anatomy_breakdown(DIT_BLOCK)
    measured = _per_token(measure())
    wrong = {
        k: (measured[k], model[k])
        for k in CATEGORIES
        if k != "layout_copy" and measured[k] != model[k]
    }
    assert wrong == {}, f"(measured, model) bytes per token: {wrong}"


def test_single_stream_block_matches_its_anatomy():
    """A FLUX single-stream block (`parallel_full_blocks`) runs one modulated norm, one gate and
    one residual, plus the concat copy into linear2: measured kind by kind, as the anatomy says
    (half the norm/modulate/cast/gate/residual bytes of a DiT block, plus r+w (d + f) at e)."""
    model = anatomy_breakdown({**DIT_BLOCK, "extras": {"parallel_full_blocks": True}})
    counter = measure(block_class=SingleStreamBlock)
    measured = _per_token(counter)
    _report("FLUX single-stream block vs the anatomy", measured, model)
    assert counter.other == []
    assert measured == model
    assert model["concat"] == 2 * (D + FFN) * E
    assert model["layernorm"] == RULE["layernorm"] // 2


def test_backward_traffic_is_close_to_the_models_factor():
    """The model prices the memory-bound backward at ELEMENTWISE_BWD_OVER_FWD x the forward.
    Measured on the same block (LayerNorm, mul/add, GELU backward, the casts' backward, the
    broadcast operands' sum reductions, gradient accumulation of the residual): 1.89x."""
    fwd, bwd = measure_backward()
    ratio = sum(bwd.wide.values()) / sum(fwd.wide.values())
    print(f"\nbackward / forward token-wide bytes: {ratio:.3f} (model {ELEMENTWISE_BWD_OVER_FWD})")
    assert sum(fwd.wide.values()) == sum(measure().wide.values())  # same forward as above
    assert 1.0 < ratio <= ELEMENTWISE_BWD_OVER_FWD
    assert ratio == pytest.approx(ELEMENTWISE_BWD_OVER_FWD, rel=0.15)


# --------------------------------------------------- fused: what one kernel per op-run leaves


class _FusionCounter(TorchDispatchMode):
    """The HBM traffic of the same forward if every run of memory-bound ops between two GEMM or
    attention calls were one kernel (Inductor's fusion up to extern kernels): per run, the wide
    tensors it reads that another run, a GEMM/attention call or the caller produced, and the wide
    tensors it produces that anything outside the run reads (or the caller gets back). Every
    tensor is kept alive while tracing, so (address, size) identifies a tensor (q and k, slices
    of one GEMM output, have different addresses)."""

    def __init__(self, region: _AttentionRegion):
        super().__init__()
        self.region = region
        self.ops: list[tuple[int, list[tuple[int, int]], list[tuple[int, int]]]] = []  # run, ins, outs
        self.run = 0
        self.keep: list[torch.Tensor] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func._schema.name.split("::")[-1]
        if _is_view_op(func):
            return out
        ins, outs = _tensors((args, kwargs)), _tensors(out)
        self.keep += ins + outs
        barrier = name in MATMUL_OPS or self.region.depth or any(m in name for m in ATTENTION_MARKERS)
        if barrier:  # GEMMs see the tokens flattened to (B*N, d): every tensor counts as a reader
            self.run += 1
            self.ops.append((-self.run, _keys(ins), []))  # a GEMM/attention call: run < 0
            self.run += 1
        elif any(_is_token(t) for t in ins + outs):
            wide = lambda ts: _keys([t for t in ts if _is_wide(t)])  # noqa: E731
            self.ops.append((self.run, wide(ins), wide(outs)))
        return out

    def fused(self, block_output: torch.Tensor) -> tuple[int, int]:
        """(bytes, kernels: runs that move any)."""
        producer = {key: run for run, _, outs in self.ops for key in outs}
        readers: dict[tuple[int, int], set[int]] = {}
        for run, ins, _ in self.ops:
            for key in ins:
                readers.setdefault(key, set()).add(run)
        readers.setdefault(_keys([block_output])[0], set()).add(-(10**9))
        total, busy = 0, set()
        for key in {k for _, ins, outs in self.ops for k in ins + outs}:
            made = producer.get(key)  # None: the caller's input
            runs = readers.get(key, set())
            fused_reads = {r for r in runs if r >= 0 and r != made}
            total += key[1] * len(fused_reads)  # each fused kernel that needs it reads it once
            busy |= fused_reads
            if made is not None and made >= 0 and runs - {made}:
                total += key[1]  # written once by its fused kernel, for someone else
                busy.add(made)
        return total, len(busy)


def _keys(ts: list[torch.Tensor]) -> list[tuple[int, int]]:
    return [(t.data_ptr(), _nbytes(t)) for t in ts]


def measure_fused(block_class: type = DiTBlock, **kwargs) -> tuple[float, int]:
    """Fused bytes per token and kernels of one traced forward."""
    region = _AttentionRegion()
    counter = _FusionCounter(region)
    y = run_block(make_block(block_class, **kwargs), counter, region,
                  autocast=block_class is not LlamaBlock)  # fmt: skip
    total, kernels = counter.fused(y)
    return total / (B * N), kernels


def test_fused_kernels_move_the_counted_bytes():
    """stack.elementwise=fused: the traced DiT block (autocast: fp32 stream, bf16 GEMM inputs)
    with every op-run between GEMM/attention calls fused moves exactly what the anatomy's fused
    runs move, in as many kernels; by hand: the first norm + modulate + cast r s + w e, the
    gate + residual + norm + modulate + cast r e + r s + w s + w e, the GELU r+w f, the last
    gate + residual r e + r s + w s. Eager minus fused is the intermediates fusion keeps on
    chip: LayerNorm output, the two modulate outputs and the gate output, each written and read
    once (3·2·4 + 2·2 bytes per element per sublayer here)."""
    block = ref_anatomy(DIT_BLOCK)
    measured, kernels = measure_fused()
    model = per_row(block, fused=True)
    print(f"\nfused bytes per token: measured {measured:.0f}, anatomy {model}")
    assert measured == model
    assert kernels == traffic(block, fused=True).kernels == 4
    s, gelu = F32, 2 * FFN * E
    assert model == ((s + E) + (E + 2 * s + E) + (E + 2 * s)) * D + gelu
    eager = per_row(block)
    assert sum(_per_token(measure()).values()) == eager  # the eager count is the measured one
    intermediates = 2 * (3 * 2 * F32 + 2 * E) * D  # LN, mul, add outputs (fp32), gate (bf16)
    stream_reread = F32 * D  # eager re-reads the stream it wrote between the two sublayers
    assert eager - model == intermediates + stream_reread


def test_eager_kernels_are_the_anatomys_ops():
    """One kernel per op that moves a wide tensor: 13 in a DiT block (norm, two modulates,
    cast, gate, residual per sublayer, and GELU), 7 in a single-stream block (+ the concat)."""
    for block_class, model in ((DiTBlock, DIT_BLOCK), (SingleStreamBlock, SINGLE_BLOCK)):
        assert measure(block_class=block_class).kernels == traffic(ref_anatomy(model)).kernels
    assert traffic(ref_anatomy(DIT_BLOCK)).kernels == 13


def test_fused_stack_prices_a_16_bit_stream():
    """The cost model's fused stack keeps the stream 16-bit (Megatron-Core / FSDP2 bf16): the
    same runs as above at s = e."""
    block, s = ref_anatomy(DIT_BLOCK), stream_bytes(element_bytes=E, fused=True)
    assert s == E and stream_bytes(element_bytes=E, fused=False) == F32
    fused = per_row(block, fused=True, stream=s)
    assert fused == ((s + E) + (E + 2 * s + E) + (E + 2 * s)) * D + 2 * FFN * E
    assert fused < per_row(block)


# ------------------------------------------- qk-norm (FLUX) and the Llama block (GPT, SwiGLU)


QK_BLOCK = {**SINGLE_BLOCK, "extras": {"parallel_full_blocks": True, "qk_norm": "rms_head"}}
QK_NORM_RULE = 2 * D * (E + F32 + 2 * F32 + F32 + 2 * F32 + F32 + E + E + F32 + F32 + E)


def test_qk_norm_block_matches_its_anatomy():
    """A FLUX single-stream block with QKNorm (`qk_norm: rms_head`, the default `fp32` kernels):
    on q and k, x.float() r e w 4, x**2 r+w 4, mean r 4, x·rrms r+w 4, .to(bf16) r 4 w e,
    ·scale (fp32 parameter under autocast) r e w 4, .to(v) r 4 w e: 4e + 36 bytes per element.
    Eager and fused, bytes and kernels, measured on the traced block equal the anatomy's."""
    block = ref_anatomy(QK_BLOCK)
    counter = measure(block_class=SingleStreamBlock, qk_norm=True)
    eager = sum(_per_token(counter).values())
    plain = sum(_per_token(measure(block_class=SingleStreamBlock)).values())
    print(f"\nqk-norm block eager bytes per token: measured {eager:.0f}, anatomy {per_row(block)}")
    assert eager == per_row(block)
    assert eager - plain == QK_NORM_RULE == 2 * D * (4 * E + 36)
    assert counter.kernels == traffic(block).kernels == traffic(ref_anatomy(SINGLE_BLOCK)).kernels + 14
    fused, kernels = measure_fused(SingleStreamBlock, qk_norm=True)
    print(f"qk-norm block fused bytes per token: measured {fused:.0f}, anatomy "
          f"{per_row(block, fused=True)}")  # fmt: skip
    assert fused == per_row(block, fused=True)
    assert kernels == traffic(block, fused=True).kernels


LLAMA = {"name": "llama-ref", "family": "gpt", "hidden": D, "heads": HEADS, "ffn_hidden": FFN,
         "mlp": "swiglu", "blocks": [{"type": "causal", "count": 1}]}  # fmt: skip


def test_llama_block_matches_its_anatomy():
    """The Llama block (bf16, no autocast), eager: RMSNorm x.float() r e w 4, pow r+w 4, mean r 4,
    x·rsqrt r+w 4, type_as r 4 w e, ·weight r+w e (4e + 28 per element, twice); rotary on q and
    k x.float() r e w 4, complex multiply r+w 4, type_as r 4 w e (2e + 16 per element); the
    residual adds r 2e w e; SwiGLU silu r+w f, multiply r 2f w f (5f at e). Fused: the
    Megatron-Core count, norm r+w, residual r 2d w d, rotary r+w, SwiGLU r 2f w f; the traced
    block fused up to its GEMMs merges each residual with the next norm, which a Megatron-Core
    stack runs apart (TE's LayerNormLinear): one fewer read of the stream per block, d·e."""
    spec = load_model(LLAMA)
    block = block_anatomy(spec, "causal")
    rms, rope, residual = (4 * E + 28) * D, (2 * E + 16) * 2 * D, 3 * E * D
    eager = sum(_per_token(measure(block_class=LlamaBlock)).values())
    print(f"\nLlama block eager bytes per token: measured {eager:.0f}, anatomy {per_row(block)}")
    assert eager == per_row(block, stream=E) == 2 * (rms + residual) + rope + 5 * FFN * E
    fused, kernels = measure_fused(LlamaBlock)
    model = per_row(block, fused=True, stream=E)
    print(f"Llama block fused bytes per token: measured {fused:.0f}, anatomy {model}")
    assert model == 2 * 5 * D * E + 2 * 2 * D * E + 3 * FFN * E
    assert fused == model - D * E
    assert kernels == traffic(block, fused=True, stream=E).kernels - 1
