"""Published FLOP-counting conventions: a case's `tflops_per_gpu` back to a step time.

Sources count different things (../shared/validation/README.md "How to compare"): Megatron-LM
counts full s² attention and no recompute, Narayanan et al. 2021 count the recompute forward,
Korthikanti et al. 2022 count model FLOPs only. Each function is the source's own formula for
one optimizer step of `batch` sequences of a gpt-family model; the vocabulary is taken as the
model spec gives it (Megatron pads it to a multiple of 128·tp; the cases give padded sizes).
"""

from __future__ import annotations

from collections.abc import Callable

from parplan.errors import SpecError
from parplan.specs import ModelSpec


def megatron_r08(model: ModelSpec, seq_len: int, batch: int) -> float:
    """Megatron-LM core_r0.8.0 megatron/training/training.py `num_floating_point_operations`:
    12·B·s·l·h²·[(1 + g/a + s/h)·(a·d_head/h) + (f/h)·(3/2 if SwiGLU) + V/(2·l·h)]."""
    h, layers = model.hidden, model.depth
    q_ratio = model.heads * model.d_head / h
    attention = (1 + model.n_kv_heads / model.heads + seq_len / h) * q_ratio
    mlp = model.ffn / h * (1.5 if model.mlp == "swiglu" else 1.0)
    logit = model.vocab / (2 * layers * h)
    return 12.0 * batch * seq_len * layers * h * h * (attention + mlp + logit)


def narayanan2021_with_recompute(model: ModelSpec, seq_len: int, batch: int) -> float:
    """Narayanan et al. 2021 (arXiv 2104.04473) eq. (3), which counts the full-recompute forward:
    96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h))."""
    h, layers = model.hidden, model.depth
    return 96.0 * batch * seq_len * layers * h * h * (
        1 + seq_len / (6 * h) + model.vocab / (16 * layers * h)
    )


def korthikanti2022_model_flops(model: ModelSpec, seq_len: int, batch: int) -> float:
    """Korthikanti et al. 2022 (arXiv 2205.05198) §6, model FLOPs without recompute:
    72·B·s·l·h²·(1 + s/(6h) + V/(12·l·h))."""
    h, layers = model.hidden, model.depth
    return 72.0 * batch * seq_len * layers * h * h * (
        1 + seq_len / (6 * h) + model.vocab / (12 * layers * h)
    )


CONVENTIONS: dict[str, Callable[[ModelSpec, int, int], float]] = {
    "megatron_r08": megatron_r08,
    "narayanan2021_with_recompute": narayanan2021_with_recompute,
    "korthikanti2022_model_flops": korthikanti2022_model_flops,
}


def step_flops(convention: str, model: ModelSpec, seq_len: int | None, batch: int) -> float:
    """FLOPs of one optimizer step under `convention`; SpecError when it cannot be computed."""
    formula = CONVENTIONS.get(convention)
    if formula is None:
        raise SpecError(
            f"measured.flops_convention '{convention}' is not known to parplan "
            f"(known: {', '.join(CONVENTIONS)}); give measured.step_time_s or a throughput"
        )
    if model.family != "gpt" or not seq_len:
        raise SpecError(
            f"measured.flops_convention '{convention}' is a gpt-family formula; "
            f"model '{model.name}' ({model.family}) needs measured.step_time_s or a throughput"
        )
    return formula(model, seq_len, batch)
