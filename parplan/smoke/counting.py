"""Count the bytes each rank hands to torch.distributed, at the c10d dispatcher boundary.

Every `dist.*` call (ours and DeepSpeed's) dispatches a `c10d::` op, so a TorchDispatchMode sees
them all, async ones and those issued by autograd backward included
(../shared/reference/envcheck.md §4A). The count is the bytes of the op's *input* tensors; for
send the sent tensor; recv is not counted: exactly `parplan.cluster.comm_ops.payload_bytes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from parplan.smoke.comm import current_label


def _nbytes(tensors) -> int:
    if isinstance(tensors, torch.Tensor):
        return tensors.numel() * tensors.element_size()
    return sum(_nbytes(t) for t in tensors)


# c10d op name -> (CollectiveOp of comm_ops, which argument holds the input tensors).
# For the *_base_ ops arg0 is the output and arg1 the input; allreduce_/send/broadcast_ take
# a list of tensors in arg0 (envcheck.md §4A).
C10D_OPS: dict[str, tuple[str, Callable]] = {
    "allreduce_": ("all_reduce", lambda a: a[0]),
    "allreduce_coalesced_": ("all_reduce", lambda a: a[0]),
    "_allgather_base_": ("all_gather", lambda a: a[1]),
    "allgather_": ("all_gather", lambda a: a[1]),
    "allgather_into_tensor_coalesced_": ("all_gather", lambda a: a[1]),
    "_reduce_scatter_base_": ("reduce_scatter", lambda a: a[1]),
    "reduce_scatter_": ("reduce_scatter", lambda a: a[1]),
    "reduce_scatter_tensor_coalesced_": ("reduce_scatter", lambda a: a[1]),
    "alltoall_base_": ("all_to_all", lambda a: a[1]),
    "alltoall_": ("all_to_all", lambda a: a[1]),
    "broadcast_": ("broadcast", lambda a: a[0]),
    "send": ("p2p_ring", lambda a: a[0]),
    "recv_": ("p2p_ring", lambda a: []),
    "recv_any_source_": ("p2p_ring", lambda a: []),
    "barrier": ("barrier", lambda a: []),
}


@dataclass
class Row:
    phase: str
    op: str
    label: str
    count: int = 0
    bytes: int = 0


class ByteCounter(TorchDispatchMode):
    """Per (phase, op, label): how many c10d calls this rank made and the bytes it handed in."""

    def __init__(self) -> None:
        super().__init__()
        self.phase = "fwd"
        self.enabled = True
        self.rows: dict[tuple[str, str, str], Row] = {}
        self.unknown: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.enabled and func.namespace == "c10d":
            self._record(func, args)
        return func(*args, **kwargs)

    def _record(self, func, args) -> None:
        name = func._schema.name.split("::", 1)[1]
        entry = C10D_OPS.get(name)
        if entry is None:
            self.unknown.add(name)
            return
        op, inputs = entry
        if op == "barrier" or name.startswith("recv"):
            return
        key = (self.phase, op, current_label())
        row = self.rows.setdefault(key, Row(*key))
        row.count += 1
        row.bytes += _nbytes(inputs(args))

    def reset(self) -> None:
        self.rows.clear()

    @property
    def total_bytes(self) -> int:
        return sum(row.bytes for row in self.rows.values())

    def table(self) -> list[dict]:
        return [vars(row).copy() for row in sorted(self.rows.values(), key=_row_order)]


PHASES = {"fwd": 0, "bwd": 1, "recompute": 2, "step": 3}


def _row_order(row: Row) -> tuple:
    return (PHASES.get(row.phase, 9), row.label, row.op)
