"""The two fitted constants are what their procedure gives today (docs/cost_model.md).

SUSTAINED_FRACTION per architecture is defined as the value that zeroes the mean signed
step-time error of one published set (tools/fit_sustained_fraction.py). Any change to the cost
model moves that value; this test refits and fails when the shipped constant has drifted from
its own definition (by more than its rounding), so a change cannot leave a stale fit behind.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import parplan.cost.device as device
from parplan.specs import load_validation_cases

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT.parent / "shared" / "validation" / "public_cases.yaml"
FIT_SETS = [("ampere", "korthikanti2022_"), ("hopper", "megatron_core_r080_h100_weak_")]


def _fit_module():
    spec = importlib.util.spec_from_file_location(
        "fit_sf", ROOT / "tools" / "fit_sustained_fraction.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not PUBLIC.exists(), reason="needs ../shared/validation/public_cases.yaml")
@pytest.mark.parametrize(("arch", "prefix"), FIT_SETS)
def test_shipped_fraction_is_the_fit(monkeypatch, arch, prefix) -> None:
    shipped = device.SUSTAINED_FRACTION[arch]
    monkeypatch.setitem(device.SUSTAINED_FRACTION, arch, shipped)  # the fit writes it; restored
    cases = [c for c in load_validation_cases(PUBLIC) if c.id.startswith(prefix)]
    assert len(cases) == 9
    fitted = _fit_module().fit(cases, arch)
    assert fitted == pytest.approx(shipped, abs=0.0015), f"refit {arch}: {fitted:.4f}"
