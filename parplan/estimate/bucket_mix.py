"""A bucket mix's steps: how sample weights and per-bucket batches become steps, samples per
step and the expected step time (docs/recipes.md, "From buckets to steps").

Bucket b holds a share w_b of the stage's samples and a step that draws it takes batch_b of them
(Open-Sora's sampler: micro_batch_b per DP rank, no accumulation, so batch_b = dp x micro_b;
a planner-picked layout: the stage's global batch). Every bucket is cut into N w_b / batch_b
batches (opensora/datasets/sampler.py, VariableVideoBatchSampler), so
  share of draws   q_b = (w_b / batch_b) / sum_c (w_c / batch_c),
  samples per step S  = 1 / sum_c (w_c / batch_c)  (the weight-averaged harmonic mean of batch_b).
`per_step`: a step is one bucket, E[step] = sum_b q_b t_b. `per_rank`: each of the n DP ranks
draws its own micro-batch (independently, as the shuffled micro-batch list hands them out) and
the step ends with the gradient sync, so it lasts as long as the slowest rank:
  E[max] = sum_j t_(j) (Q_j^n - Q_(j-1)^n), buckets sorted by time, Q_j = q_(1) + ... + q_(j),
with t_b the step time when every rank runs bucket b.
"""

from __future__ import annotations

from collections.abc import Sequence


def draw_shares(*, weights: Sequence[float], batches: Sequence[float]) -> list[float]:
    """q_b: the share of micro-batches (or steps) that come from each bucket."""
    per_sample = [w / b for w, b in zip(weights, batches, strict=True)]
    total = sum(per_sample)
    return [x / total for x in per_sample]


def samples_per_step(*, weights: Sequence[float], batches: Sequence[float]) -> float:
    """S = 1 / sum_b (w_b / batch_b)."""
    return 1.0 / sum(w / b for w, b in zip(weights, batches, strict=True))


def expected_max_s(*, times_s: Sequence[float], shares: Sequence[float], draws: int) -> float:
    """E[max of `draws` independent draws] of a discrete distribution (order statistics)."""
    expected, below = 0.0, 0.0
    for t, q in sorted(zip(times_s, shares, strict=True)):
        expected += t * ((below + q) ** draws - below**draws)
        below += q
    return expected


def expected_step_s(
    *, times_s: Sequence[float], shares: Sequence[float], draw: str, ranks: int
) -> float:
    """E[step time] under `per_step` (a weighted mean) or `per_rank` (the slowest of `ranks`)."""
    if draw == "per_rank":
        return expected_max_s(times_s=times_s, shares=shares, draws=ranks)
    return sum(t * q for t, q in zip(times_s, shares, strict=True))
