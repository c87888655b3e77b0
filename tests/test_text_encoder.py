"""The online text encoder's time, and `stack.text_encoder_precision`.

The encoder is a forward of dense GEMMs: 2 FLOP per parameter per token (Kaplan et al. 2020,
arXiv 2001.08361, Table 1), timed on the peak of the precision it runs at. The check is against
a hand count from the T5-v1.1-XXL parameter count and the cluster spec's datasheet peaks.
"""

from __future__ import annotations

import json

import pytest
from repo_files import PUBLIC_CASES

from parplan.cli import main
from parplan.cost.device import Device
from parplan.cost.step import predict
from parplan.errors import SpecError
from parplan.specs import StackSpec, StrategySpec, load_cluster, load_model, load_workload

T5_XXL_PARAMS = 4.76e9  # T5EncoderModel of google/t5-v1_1-xxl (the Open-Sora validation cases)
T5_TOKENS = 120
MODEL = load_model({
    "name": "stdit-t5", "family": "dit", "hidden": 1152, "heads": 16,
    "blocks": [{"type": "spatial_temporal", "count": 28}], "cross_attention": True,
    "text_tokens": T5_TOKENS, "text_encoder": {"params": T5_XXL_PARAMS, "tokens": T5_TOKENS},
})  # fmt: skip
WORKLOAD = load_workload({
    "kind": "video", "frames": 16, "height": 256, "width": 256, "global_batch": 64,
    "vae": {"temporal": 1, "spatial": 8, "causal": False}, "online_encoding": ["text"],
})  # fmt: skip
CLUSTER = load_cluster("h100-dgx-ndr400")
MICRO_BATCH = 8


def _encoder_s(stack: StackSpec) -> float:
    s = StrategySpec(dp=8, micro_batch=MICRO_BATCH, global_batch=64, stack=stack)
    return predict(MODEL, WORKLOAD, CLUSTER, s, 8).breakdown.encoder_s


def test_text_encoder_time_is_its_gemm_flops_on_the_workload_peak() -> None:
    """One micro-batch of 8 captions x 120 tokens through 4.76e9 parameters, compute-bound."""
    flops = 2 * T5_XXL_PARAMS * T5_TOKENS * MICRO_BATCH
    dev = Device.of(CLUSTER, "bf16")
    expected = flops / (CLUSTER.gpu.peak_tflops["bf16"] * 1e12 * dev.eff.gemm_max)
    assert _encoder_s(StackSpec()) == pytest.approx(expected, rel=1e-9)


def test_fp32_text_encoder_runs_on_the_fp32_peak() -> None:
    """Open-Sora v1.0/1.1 keep T5 in fp32: same FLOPs, the fp32 datasheet peak (67 vs 989 TFLOP/s
    on H100 SXM), so the ratio is the ratio of the peaks."""
    peaks = CLUSTER.gpu.peak_tflops
    ratio = _encoder_s(StackSpec(text_encoder_precision="fp32")) / _encoder_s(StackSpec())
    assert ratio == pytest.approx(peaks["bf16"] / peaks["fp32"], rel=1e-9)


def test_text_encoder_precision_needs_a_peak_for_it() -> None:
    no_fp32 = CLUSTER.model_copy(
        update={"gpu": CLUSTER.gpu.model_copy(update={"peak_tflops": {"bf16": 989.4}})}
    )
    s = StrategySpec(dp=8, micro_batch=MICRO_BATCH, global_batch=64,
                     stack=StackSpec(text_encoder_precision="fp32"))  # fmt: skip
    with pytest.raises(SpecError, match="peak_tflops.fp32"):
        predict(MODEL, WORKLOAD, no_fp32, s, 8)


def test_predict_cli_text_encoder_precision(capsys, tmp_path) -> None:
    model_file = tmp_path / "m.yaml"
    model_file.write_text(json.dumps(MODEL.model_dump(exclude_none=True)))
    work_file = tmp_path / "w.yaml"
    work_file.write_text(json.dumps(WORKLOAD.model_dump(exclude_none=True)))
    argv = ["predict", "--model", str(model_file), "--workload", str(work_file), "--gpus", "8",
            "--micro-batch", "8", "--json"]  # fmt: skip
    assert main(argv) == 0
    plain = json.loads(capsys.readouterr().out)["breakdown"]["encoder_s"]
    assert main([*argv, "--text-encoder-precision", "fp32"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["strategy"]["stack"]["text_encoder_precision"] == "fp32"
    assert out["breakdown"]["encoder_s"] > 10 * plain
    assert main([*argv, "--text-encoder-precision", "fp31"]) == 2
    assert "text_encoder_precision" in capsys.readouterr().err


def test_open_sora_cases_state_t5_in_fp32() -> None:
    """shared/validation/public_cases.yaml: Open-Sora v1.1 ran T5 in fp32 ("# T5 must be fp32")."""

    from parplan.specs import load_validation_cases

    cases_file = PUBLIC_CASES
    if not cases_file.exists():
        pytest.skip("needs ../shared/validation/public_cases.yaml")
    cases = [c for c in load_validation_cases(cases_file) if c.id.startswith("opensora_v11_accel_")]
    assert cases and all(c.strategy.stack.text_encoder_precision == "fp32" for c in cases)
