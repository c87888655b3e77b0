"""`parplan validate` on the published cases (../shared/validation/public_cases.yaml).

Issue 14 asks for MAPE <= 7% and every DiT case within 15%; the model is at 7.9% and misses six
DiT cases (docs/validation.md says where and why). These tests guard against regressions: the
current error must not grow. The held-out set (validation/holdout_cases.yaml) is checked the
same way; nothing is fitted on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_files import PUBLIC_CASES as CASES

from parplan.cli import main
from parplan.specs import load_model, load_validation_cases, load_workload
from parplan.validate.cases import measured_step_time_s, validate

pytestmark = pytest.mark.skipif(not CASES.exists(), reason="shared/ validation cases not present")

MAPE_GUARD = 0.080  # with each case's own stack: measured 0.0780; lower it as the model improves
HOLDOUT = Path(__file__).resolve().parents[1] / "validation" / "holdout_cases.yaml"
HOLDOUT_MAPE_GUARD = 0.15  # the "about 15%"; measured 0.140 on all 20 (0.134 before
# SUSTAINED_FRACTION was refitted on today's model: the refit is its procedure, not a choice)


def test_every_case_runs_and_summary_is_honest() -> None:
    report = validate(CASES)
    assert len(report.cases) == 38
    assert report.summary.n + report.summary.skipped == 38
    errors = [abs(c.rel_error) for c in report.cases if c.rel_error is not None]
    assert report.summary.max_ape == pytest.approx(max(errors))
    assert report.summary.mape <= MAPE_GUARD
    assert report.summary.within_tolerance == sum(bool(c.within_tolerance) for c in report.cases)


def test_large_h100_megatron_runs_within_tolerance() -> None:
    """Megatron-Core r0.8 H100 weak scaling, 70B-462B: the regime the physics covers best."""
    report = validate(CASES)
    big = [c for c in report.cases if c.id.startswith("megatron_core_r080_h100_weak_")
           and c.id.split("_")[-1] in ("70b", "119b", "177b", "314b", "462b")]  # fmt: skip
    assert len(big) == 5
    assert all(c.within_tolerance for c in big), [(c.id, c.rel_error) for c in big]


def test_throughput_is_converted_to_step_time() -> None:
    """tokens/s per GPU → step time = batch · tokens / (tokens/s/GPU · GPUs)."""
    case = next(c for c in load_validation_cases(CASES) if c.id == "korthikanti2022_22b_selective_recompute_sp")
    only_tokens = case.measured.model_copy(update={"step_time_s": None, "tflops_per_gpu": None})
    derived = measured_step_time_s(
        case.model_copy(update={"measured": only_tokens}),
        model=load_model(case.model), workload=load_workload(case.workload), num_gpus=8,
    )  # fmt: skip
    assert derived == pytest.approx(4 * 2048 / (930.9 * 8))
    assert derived == pytest.approx(case.measured.step_time_s, rel=0.01)


def test_validate_cli_json(capsys) -> None:
    assert main(["validate", str(CASES), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["summary"]) >= {"n", "mape", "median_ape", "max_ape", "within_tolerance"}
    first = data["cases"][0]
    assert set(first) >= {"id", "predicted_step_time_s", "measured_step_time_s", "rel_error", "within_tolerance"}


def test_validate_cli_bad_file(tmp_path, capsys) -> None:
    bad = tmp_path / "cases.yaml"
    bad.write_text("- id: x\n  source: s\n  model: dit-xl-2\n  workload: imagenet-256\n"
                   "  cluster: h100-dgx-ndr400\n  strategy: {dp: 1}\n  measured: {}\n  tolerence: 0.1\n")  # fmt: skip
    assert main(["validate", str(bad)]) == 2
    assert "tolerence" in capsys.readouterr().err


def test_a_case_parplan_cannot_load_is_skipped_not_fatal(tmp_path) -> None:
    """A model preset parplan does not ship skips that case with the reason; the other cases
    of the file still run (a typo in a key stops the run: test_validate_cli_bad_file)."""
    good = load_validation_cases(CASES)[0].model_dump(exclude_none=True)
    unknown_preset = {**json.loads(json.dumps(good)), "id": "unknown_preset", "model": "llama-9-900b"}
    path = tmp_path / "cases.yaml"
    path.write_text(json.dumps([good, unknown_preset]))
    report = validate(path)
    by_id = {c.id: c for c in report.cases}
    assert by_id[good["id"]].rel_error is not None
    assert "llama-9-900b" in by_id["unknown_preset"].skipped
    assert (report.summary.n, report.summary.skipped) == (1, 1)


def test_holdout_set_generalizes() -> None:
    """The held-out published runs (never fitted on): MAPE at most HOLDOUT_MAPE_GUARD; every
    case runs, the two 405B torchtitan runs (FSDP ZeRO-2 with pp 8) included."""
    report = validate(HOLDOUT)
    assert (report.summary.n, report.summary.skipped) == (20, 0)
    assert report.summary.mape <= HOLDOUT_MAPE_GUARD


def test_eager_vs_compiled_torchtitan_ratio() -> None:
    """torchtitan docs/performance.md Table 1 (8 x H100, Llama 3.1 8B): eager 5,762 vs
    torch.compile 6,667 tokens/s/GPU, i.e. eager steps take 1.157x as long. Only the stack's
    `elementwise` differs between the two cases; the model's ratio must match within 5%."""
    report = {c.id: c for c in validate(HOLDOUT).cases}
    eager = report["torchtitan_llama31_8b_fsdp8_sac_eager_8xh100"].predicted_step_time_s
    fused = report["torchtitan_llama31_8b_fsdp8_sac_compile_8xh100"].predicted_step_time_s
    assert eager / fused == pytest.approx(6667 / 5762, rel=0.05)
