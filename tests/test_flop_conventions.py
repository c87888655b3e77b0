"""FLOP conventions (parplan/model/flop_conventions.py): a published TF/s back to a step time.

Independent numbers: the validation cases' notes give, for every Megatron-Core, Narayanan and
Korthikanti run, the FLOPs per step the collector computed with the source's own formula, and
their `step_time_s` is that count divided by the published TF/s. parplan's formulas must give
the same FLOPs and, from `tflops_per_gpu` alone, the same step time.
"""

from __future__ import annotations

import re

import pytest
from repo_files import PUBLIC_CASES as CASES

from parplan.errors import SpecError
from parplan.model.flop_conventions import CONVENTIONS, step_flops
from parplan.specs import load_cluster, load_model, load_validation_cases, load_workload
from parplan.validate.cases import measured_step_time_s, run_case

needs_cases = pytest.mark.skipif(not CASES.exists(), reason="shared/ validation cases not present")
NOTE_FLOPS = re.compile(r"FLOPs per step \(([0-9.]+e[+-]?[0-9]+)")

# Narayanan et al. 2021 Table 1, first row: 1.7B = 24 layers, h 2304, s 2048, V 51200, B 512.
GPT_1P7B = load_model({
    "name": "gpt-1.7b", "family": "gpt", "blocks": [{"type": "causal", "count": 24}],
    "hidden": 2304, "heads": 24, "vocab": 51200, "tied_embeddings": True,
})  # fmt: skip


def _tflops_cases():
    return [c for c in load_validation_cases(CASES) if c.measured.tflops_per_gpu]


def test_narayanan_formula_by_hand() -> None:
    """96·B·s·l·h²·(1 + s/6h + V/16lh) for the 1.7B row, multiplied out by hand."""
    by_hand = 96 * 512 * 2048 * 24 * 2304**2 * (1 + 2048 / (6 * 2304) + 51200 / (16 * 24 * 2304))
    assert step_flops("narayanan2021_with_recompute", GPT_1P7B, 2048, 512) == pytest.approx(by_hand)
    # Korthikanti counts model FLOPs (no recompute): the recompute pass is the 96/72 ratio apart
    # from the vocabulary term
    k = step_flops("korthikanti2022_model_flops", GPT_1P7B, 2048, 512)
    assert 1.0 < step_flops("narayanan2021_with_recompute", GPT_1P7B, 2048, 512) / k < 96 / 72


@needs_cases
def test_formulas_reproduce_the_collectors_flop_counts() -> None:
    checked = 0
    for case in _tflops_cases():
        noted = [float(m.group(1)) for n in case.notes for m in [NOTE_FLOPS.search(n)] if m]
        if not noted:
            continue
        model, workload = load_model(case.model), load_workload(case.workload)
        batch = case.strategy.global_batch or workload.global_batch
        ours = step_flops(case.measured.flops_convention, model, workload.seq_len, batch)
        assert ours == pytest.approx(noted[0], rel=1e-4), case.id
        checked += 1
    assert checked == 30  # 11 Megatron-Core + 10 Narayanan + 9 Korthikanti


@needs_cases
def test_step_time_from_tflops_alone_matches_the_cases() -> None:
    for case in _tflops_cases():
        model, workload = load_model(case.model), load_workload(case.workload)
        only_tflops = case.measured.model_copy(
            update={"step_time_s": None, "tokens_per_s_per_gpu": None, "samples_per_s_per_gpu": None}
        )
        gpus = case.num_gpus or load_cluster(case.cluster).num_gpus
        derived = measured_step_time_s(case.model_copy(update={"measured": only_tflops}),
                                       model=model, workload=workload, num_gpus=gpus)  # fmt: skip
        assert derived == pytest.approx(case.measured.step_time_s, rel=2e-3), case.id


def test_unknown_convention_and_wrong_family_are_clear_errors() -> None:
    with pytest.raises(SpecError, match="flops_convention 'mystery'.*known: megatron_r08"):
        step_flops("mystery", GPT_1P7B, 2048, 512)
    dit = load_model("dit-xl-2")
    with pytest.raises(SpecError, match="gpt-family formula"):
        step_flops("megatron_r08", dit, None, 256)
    assert set(CONVENTIONS) == {"megatron_r08", "narayanan2021_with_recompute",
                                "korthikanti2022_model_flops"}  # fmt: skip


@needs_cases
def test_case_with_an_unknown_convention_is_skipped_with_the_reason() -> None:
    case = _tflops_cases()[0]
    odd = case.measured.model_copy(update={"step_time_s": None, "tokens_per_s_per_gpu": None,
                                           "flops_convention": "mystery"})  # fmt: skip
    result = run_case(case.model_copy(update={"measured": odd}))
    assert result.skipped and "flops_convention 'mystery'" in result.skipped
    assert result.rel_error is None
