"""The two fitted constants are what their procedure gives today (docs/cost_model.md).

SUSTAINED_FRACTION per architecture is defined as the value that zeroes the mean signed
step-time error of one published set (tools/fit_sustained_fraction.py). Any change to the cost
model moves that value; this test refits and fails when the shipped constant has drifted from
its own definition (by more than its rounding), so a change cannot leave a stale fit behind.
"""

from __future__ import annotations

import pytest
from repo_files import PUBLIC_CASES as PUBLIC
from repo_files import load_tool

import parplan.cost.device as device
from parplan.specs import load_validation_cases

FIT_SETS = [("ampere", "korthikanti2022_"), ("hopper", "megatron_core_r080_h100_weak_")]


@pytest.mark.skipif(not PUBLIC.exists(), reason="needs ../shared/validation/public_cases.yaml")
@pytest.mark.parametrize(("arch", "prefix"), FIT_SETS)
def test_shipped_fraction_is_the_fit(monkeypatch, arch, prefix) -> None:
    shipped = device.SUSTAINED_FRACTION[arch]
    monkeypatch.setitem(device.SUSTAINED_FRACTION, arch, shipped)  # the fit writes it; restored
    cases = [c for c in load_validation_cases(PUBLIC) if c.id.startswith(prefix)]
    assert len(cases) == 9
    fitted = load_tool("fit_sustained_fraction").fit(cases, arch)
    assert fitted == pytest.approx(shipped, abs=0.0015), f"refit {arch}: {fitted:.4f}"
