"""The search summary under `parplan plan`'s table adds up (issue 16: "344 costed + 4826 pruned
!= 5060 searched"): every layout searched is solved or pruned for one reason, and the line says
which number counts what (docs/solver.md, "Output")."""

from __future__ import annotations

import re

import pytest

import parplan.plan.search as search
from parplan.commands.plan_tables import PRUNE_REASONS, search_line
from parplan.plan.planner import plan
from parplan.specs import load_cluster, load_model, load_workload


@pytest.mark.parametrize(
    ("model", "workload", "gpus"),
    [("open-sora-1.2", "video-512px-64f", 32), ("hunyuanvideo", "video-720p-129f", 8)],
)
def test_searched_is_solved_plus_pruned(monkeypatch, model, workload, gpus) -> None:
    """Solved layouts counted independently (each return of the solve-and-predict step) equal
    candidates - pruned; `evaluated` (predict calls) is at least that."""
    solved = []
    original = search._solve_and_predict

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003
        floor = original(*args, **kwargs)
        solved.append(1)
        return floor

    monkeypatch.setattr(search, "_solve_and_predict", counting)
    result = plan(model=load_model(model), workload=load_workload(workload),
                  cluster=load_cluster("h100-dgx-ndr400"), num_gpus=gpus, top_k=3)  # fmt: skip
    s = result.search
    assert s.pruned == sum(s.pruned_by.values())
    assert s.candidates - s.pruned == len(solved)
    assert s.evaluated >= len(solved)
    line = search_line(s)
    numbers = re.match(r"searched ([\d,]+) layouts in [\d.]+ s: ([\d,]+) solved \+ ([\d,]+) pruned",
                       line)  # fmt: skip
    searched, solved_n, pruned = (int(g.replace(",", "")) for g in numbers.groups())
    assert searched == solved_n + pruned == s.candidates
    for reason, n in s.pruned_by.items():  # a reason that pruned nothing is left out
        assert (f"{n:,} {PRUNE_REASONS[reason]}" in line) == (n > 0), reason
    assert f"{s.evaluated:,} predict calls" in line
