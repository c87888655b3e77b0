"""Fit one architecture's SUSTAINED_FRACTION (parplan/cost/device.py) on a set of published runs.

    python tools/fit_sustained_fraction.py CASES.yaml --arch ampere --prefix korthikanti2022_
    python tools/fit_sustained_fraction.py CASES.yaml --arch hopper --prefix megatron_core_r080_h100_weak_

The fitted value is the one that zeroes the mean signed step-time error of the selected cases
(bisection; the step time falls monotonically as the fraction rises). docs/cost_model.md says
which set each architecture's value was fitted on and what checks it out of sample.
"""

from __future__ import annotations

import argparse
import statistics

import parplan.cost.device as device
from parplan.specs import load_validation_cases
from parplan.validate.cases import run_case


def mean_signed_error(cases: list, arch: str, fraction: float) -> float:
    device.SUSTAINED_FRACTION[arch] = fraction
    errors = [r.rel_error for r in map(run_case, cases) if r.rel_error is not None]
    return statistics.fmean(errors)


def fit(cases: list, arch: str, lo: float = 0.4, hi: float = 1.0) -> float:
    for _ in range(40):
        mid = (lo + hi) / 2
        if mean_signed_error(cases, arch, mid) > 0:  # too slow: raise the fraction
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cases")
    parser.add_argument("--arch", required=True, choices=sorted(device.SUSTAINED_FRACTION))
    parser.add_argument("--prefix", required=True, help="ids of the fit set start with this")
    args = parser.parse_args()
    cases = [c for c in load_validation_cases(args.cases) if c.id.startswith(args.prefix)]
    value = fit(cases, args.arch)
    print(f"{args.arch}: SUSTAINED_FRACTION = {value:.4f} zeroes the mean signed error of "
          f"{len(cases)} cases ({args.prefix}*)")  # fmt: skip


if __name__ == "__main__":
    main()
