"""Memory-bound bytes and kernel launches of one block, and its saved activations, from its
anatomy's ops (model/anatomy.py, written per block type in model/blocks.py).

Bytes: an op moves `elements` values per row for every operand it reads and writes, at its
dtype's width: `act` the 16-bit activation (the workload's element bytes), `f32` 4 bytes, and
`stream`, which the stack sets (`stream_bytes`). A cast between two equal widths does not run.
* eager (`stack.elementwise: eager`): every op is one kernel that reads its inputs from HBM and
  writes its outputs;
* fused (`stack.elementwise: fused`; torch.compile's Inductor fuses pointwise ops and reductions
  up to its extern kernels, Transformer Engine / Megatron-Core fuse norm + cast and bias +
  dropout + residual): each run of ops between two GEMM or attention calls (or a
  `fusion_break`) is one kernel; it reads once each tensor made outside the run and writes once
  each tensor it makes that something outside the run uses (a later run, a GEMM, attention or
  the block's output: a tensor no later op reads under its name).
tests/test_elementwise_traffic.py traces blocks op by op, both ways, and requires equality.

Saved activations (elements per sample, Korthikanti et al. 2022 §4 accounting, priced at the
activation precision by cost/memory.py): what each op keeps for backward (anatomy.py flags).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.model.anatomy import (
    AttentionCall,
    BlockAnatomy,
    Dtype,
    Linear,
    Operand,
    Pointwise,
    Stream,
    identity_memo,
    stream_rows,
)
from parplan.model.geometry import TokenGeometry

AUTOCAST_STREAM_BYTES = 4  # fp32 residual stream and norms under torch.autocast
FP32_BYTES = 4


def stream_bytes(*, element_bytes: int, fused: bool) -> int:
    """The `stream` dtype's width: fp32 under eager autocast (DiT code: PyTorch "Autocast Op
    Reference", layer_norm is an fp32 op, mul/add follow type promotion); the activation width
    under a fused stack, as Megatron-Core keeps the residual (fp32_residual_connection=False by
    default) and FSDP2 with a bf16 param_dtype runs it."""
    return element_bytes if fused else max(element_bytes, AUTOCAST_STREAM_BYTES)


def dtype_bytes(dtype: Dtype, *, element_bytes: int, stream: int) -> int:
    return {"act": element_bytes, "stream": stream, "f32": FP32_BYTES}[dtype]


def operand_elements(op: Pointwise, operand: Operand) -> int:
    """An operand's values per row: the op's `elements` unless it names its own."""
    return operand[2] if len(operand) == 3 else op.elements  # type: ignore[misc]


class RowBytes(BaseModel):
    """Forward memory-bound bytes per row of one stream: whole on every TP rank (residual
    stream, norms, casts, gates) and split by TP (head-split ops, the FFN activation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: Stream
    whole: int = 0
    split: int = 0


class Traffic(BaseModel):
    """One block's memory-bound forward: bytes per row by stream, and kernel launches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: tuple[RowBytes, ...]
    kernels: int


class _Tensor:
    """One value in the block's dataflow: who made it (a run, or None: a GEMM, attention or
    the block's input), which runs read it, and whether something outside the ops uses it."""

    def __init__(self, op: Pointwise, operand: Operand, width: int, producer: int | None):
        self.key = (op.stream, op.tp_split)
        self.row_bytes = operand_elements(op, operand) * width
        self.producer = producer
        self.readers: set[int] = set()
        self.escapes = False


class _Flow:
    """Walks the block's steps in order, binding names to tensors (a write makes a new one)."""

    def __init__(self, *, element_bytes: int, stream: int) -> None:
        self.widths = {d: dtype_bytes(d, element_bytes=element_bytes, stream=stream)
                       for d in ("act", "stream", "f32")}  # fmt: skip
        self.names: dict[tuple[Stream, str], list] = {}  # name -> [tensor, read since bound]
        self.tensors: list[_Tensor] = []

    def bind(self, key: tuple[Stream, str], tensor: _Tensor | None) -> None:
        old = self.names.get(key)
        if old is not None and old[0] is not None and not old[1]:
            old[0].escapes = True
        self.names[key] = [tensor, False]

    def apply(self, op: Pointwise, run: int) -> None:
        widths = [self.widths[o[1]] for o in (*op.reads, *op.writes)]
        if op.kind == "cast" and len(set(widths)) == 1:  # no kernel: the output is the input
            self.bind((op.stream, op.writes[0][0]), self.read(op, op.reads[0], None))
            return
        for operand in op.reads:
            self.read(op, operand, run)
        for operand in op.writes:
            tensor = _Tensor(op, operand, self.widths[operand[1]], run)
            self.tensors.append(tensor)
            self.bind((op.stream, operand[0]), tensor)

    def read(self, op: Pointwise, operand: Operand, run: int | None) -> _Tensor:
        key = (op.stream, operand[0])
        bound = self.names.get(key)
        if bound is None or bound[0] is None:  # made by a GEMM, attention or before the block
            bound = [_Tensor(op, operand, self.widths[operand[1]], None), False]
            self.tensors.append(bound[0])
            self.names[key] = bound
        bound[1] = True
        if run is not None:
            bound[0].readers.add(run)
        return bound[0]

    def finish(self) -> None:
        for key in list(self.names):
            self.bind(key, None)


def _outputs(step: Linear | AttentionCall) -> tuple[tuple[Stream, str], ...]:
    if isinstance(step, Linear):
        return tuple((step.stream, p) for p, _ in step.parts) or ((step.stream, step.name),)
    return ((step.q_stream, step.name),)


@identity_memo
def pointwise_traffic(
    block: BlockAnatomy, *, element_bytes: int, stream: int, unfused: bool, fused: bool
) -> Traffic:
    """Bytes per row by stream (in the order the streams first appear) and kernels of one
    block's forward; `unfused`: the attention kernel is unfused (its heads-major output is
    copied back to tokens-major); `fused`: one kernel per run of ops, else one per op."""
    flow, run, open_run = _Flow(element_bytes=element_bytes, stream=stream), 0, False
    for step in block.steps():
        if not isinstance(step, Pointwise):
            run, open_run = run + open_run, False
            for key in _outputs(step):
                flow.bind(key, None)
        elif unfused or not step.unfused_only:
            if open_run and (not fused or step.fusion_break):
                run += 1
            flow.apply(step, run)
            open_run = True
    flow.finish()
    return _totals(flow.tensors)


def _totals(tensors: list[_Tensor]) -> Traffic:
    """Each tensor is read once by every other run that uses it and written once by its run
    when anything outside that run uses it."""
    by_key: dict[tuple[Stream, bool], int] = {}
    busy: set[int] = set()
    for t in tensors:
        readers = t.readers - {t.producer}
        written = t.producer is not None and (bool(readers) or t.escapes)
        moved = t.row_bytes * (len(readers) + written)
        by_key[t.key] = by_key.get(t.key, 0) + moved
        busy |= readers | ({t.producer} if written else set())
    out: dict[Stream, list[int]] = {}
    for (stream, split), n in by_key.items():
        out.setdefault(stream, [0, 0])[split] += n
    rows = tuple(RowBytes(stream=s, whole=w, split=p) for s, (w, p) in out.items())
    return Traffic(rows=rows, kernels=len(busy))


class SavedElements(BaseModel):
    """Activation elements one block keeps for backward, per sample, before any split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    whole: int  # whole on every TP rank (split by TP only with Megatron-SP)
    split: int  # split by TP
    attention_out: int  # part of `split` that selective recompute drops


@identity_memo
def saved_elements(block: BlockAnatomy, geo: TokenGeometry) -> SavedElements:
    """Linears keep their input (split when row-parallel), the attention core Q, K, V and its
    output, flagged pointwise ops what they read."""
    whole, split, attn_out = 0, 0, 0
    for lin in block.linears():
        if lin.saves_input:
            n = stream_rows(lin.stream, geo) * lin.in_features
            whole, split = (whole, split + n) if lin.tp == "row" else (whole + n, split)
    for call in block.attention_calls():
        a = call.shape(geo)
        if not (a.q_len and a.kv_len):
            continue
        q_rows, kv_rows = a.sequences * a.q_len, a.sequences * a.kv_len
        out = q_rows * a.heads * a.head_dim
        split += 2 * out + 2 * kv_rows * a.kv_heads * a.head_dim
        attn_out += out
    for op in block.pointwise():
        kept = [o for o in op.reads if o[0] in op.saves]
        if kept:
            n = stream_rows(op.stream, geo) * sum(operand_elements(op, o) for o in kept)
            whole, split = (whole, split + n) if op.tp_split else (whole + n, split)
    return SavedElements(whole=whole, split=split, attention_out=attn_out)
