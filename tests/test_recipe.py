"""Recipes: the bucket mix (against brute force and Open-Sora's sampler), the spec's one-line
errors, the bundled open-sora-2.0 recipe against the paper's measured step times, deadline mode
against the exhaustive grid, and the commands."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import yaml

from parplan.cli import main
from parplan.estimate.bucket_mix import draw_shares, expected_max_s, samples_per_step
from parplan.estimate.recipe import estimate_recipe
from parplan.estimate.recipe_stage import bucket_prediction, resolve_stage
from parplan.specs import load_cluster, load_recipe

H200 = "h200-dgx-ndr400"


def test_expected_max_equals_brute_force():
    """E[slowest of n ranks] over every one of k^n joint draws, weighted by probability."""
    times, shares = [5.6, 6.4, 6.0], [0.2, 0.5, 0.3]
    for n in (1, 2, 4):
        brute = sum(max(times[i] for i in draw) * math.prod(shares[i] for i in draw)
                    for draw in itertools.product(range(3), repeat=n))  # fmt: skip
        assert expected_max_s(times_s=times, shares=shares, draws=n) == pytest.approx(brute)


def test_steps_and_samples_follow_open_soras_sampler():
    """opensora/datasets/sampler.py cuts bucket b's N_b samples into N_b / bs_b micro-batches and
    hands one to each of the dp ranks per step: iterations = sum_b (N_b / bs_b) / dp."""
    counts, micro, dp = {"33f": 290, "65f": 1910, "97f": 2670, "129f": 5130}, [12, 6, 4, 3], 8
    n = sum(counts.values())
    weights = [c / n for c in counts.values()]
    iterations = sum(c / b for c, b in zip(counts.values(), micro, strict=True)) / dp
    per_step = samples_per_step(weights=weights, batches=[dp * b for b in micro])
    assert n / per_step == pytest.approx(iterations)
    shares = draw_shares(weights=weights, batches=micro)
    batches = [c / b for c, b in zip(counts.values(), micro, strict=True)]
    assert shares == pytest.approx([x / sum(batches) for x in batches])


def _write(tmp_path, data) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _small(**stage) -> dict:
    base = {"name": "a", "gpus": 8, "samples": 1000, "global_batch": 64,
            "buckets": [{"height": 256, "width": 256, "weight": 1.0}]}  # fmt: skip
    return {"name": "t", "model": "dit-s-2", "stages": [base | stage]}


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({"buckets": [{"height": 256, "width": 256, "weight": 1.0, "wieght": 1}]},
         r"unknown key 'stages\.0\.buckets\.0\.wieght' \(allowed here: name, height"),
        ({"buckets": [{"height": 256, "width": 256, "weight": 0.5},
                      {"height": 512, "width": 512, "weight": 0.3}]},
         r"stage 'a': bucket weights sum to 0\.5 \+ 0\.3 = 0\.8; they must sum to 1"),
        ({"iterations": 10}, r"give exactly one of samples and iterations"),
        ({"buckets": [{"height": 256, "width": 256, "weight": 1.0, "micro_batch": 4}]},
         r"per-bucket micro_batch needs a fixed layout"),
        ({"global_batch": None}, r"give global_batch"),
    ],
)
def test_bad_recipes_are_one_line_errors(tmp_path, capsys, stage, message):
    data = _small(**stage)
    data["stages"][0] = {k: v for k, v in data["stages"][0].items() if v is not None}
    path = _write(tmp_path, data)
    assert main(["estimate", "--recipe", path, "--cluster", H200]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert pytest.importorskip("re").search(message, err), err


def test_a_bucket_that_does_not_fit_is_bad_input(tmp_path, capsys):
    """Open-Sora 2.0's 768px 129-frame clips, 4 per GPU without checkpointing or CP, on 8 GPUs."""
    data = {"name": "t", "model": "open-sora-2.0", "stages": [{
        "name": "hi", "gpus": 8, "iterations": 10,
        "parallel": {"tp": 1, "sp": 1, "pp": 1, "zero": 2, "ckpt": "none"},
        "buckets": [{"name": "768px-129f", "height": 576, "width": 1024, "frames": 129,
                     "micro_batch": 4, "weight": 1.0}]}]}  # fmt: skip
    assert main(["estimate", "--recipe", _write(tmp_path, data), "--cluster", H200]) == 2
    err = capsys.readouterr().err.strip()
    assert "bucket '768px-129f': micro_batch 4 does not fit" in err and len(err.splitlines()) == 1


# Open-Sora 2.0 (arXiv 2503.09642 v3) App. D: batch size and throughput on 8 H200s; the step
# time is 8 x bs / throughput (Table 4) and, with CP 4 (2 CP groups), 2 x bs / throughput (Table 5)
PAPER_8GPU_STEP_S = [  # (stage index, bucket, micro-batch, frames, seconds)
    (0, "256px-129f", 3, 129, 8 * 3 / 3.2),
    (2, "768px-129f", 2, 129, 2 * 2 / 0.08),
    (2, "768px-97f", 3, 97, 2 * 3 / 0.13),
]


@pytest.mark.xfail(strict=True, reason="eager-DiT gap: with FlashAttention-3 priced from its "
                   "published table the model is 25-34% fast on these buckets (docs/recipes.md)")
@pytest.mark.parametrize(("stage", "bucket", "micro", "frames", "paper_s"), PAPER_8GPU_STEP_S)
def test_open_sora_buckets_against_the_papers_8_gpu_step_times(stage, bucket, micro, frames,
                                                               paper_s):  # fmt: skip
    """The recipe's layouts on 8 H200s at the paper's Table 4/5 batch sizes, for the buckets that
    set a stage's step (the slowest): within 20%. With FA3 priced as FA2 (before the kernel
    table) they were -14%, -7%, -5%; with the FA3 table they are -25%, -34%, -31%: the known
    eager-DiT gap (docs/validation.md), so this fails and is marked so (strict: a fix shows).
    Not checked: the shorter clips at larger micro-batches, where the paper's times stay at
    ~7.6 s / ~48 s and parplan's fall further, per-sample costs the model lacks."""
    recipe = load_recipe("open-sora-2.0")
    inputs = resolve_stage(recipe.stages[stage], recipe)
    workload = next(w for label, _w, w, _m in inputs.buckets if label == bucket)
    found = bucket_prediction(inputs, workload=workload, micro_batch=micro,
                              cluster=load_cluster(H200), gpus=8, progress=None)  # fmt: skip
    assert found.step_time_s == pytest.approx(paper_s, rel=0.20)


def test_open_sora_recipe_stages_and_total():
    """Paper Table 2: 2,240 / 384 / 1,536 GPU-days (whole days x GPUs). parplan lands below
    every stage (docs/recipes.md says why); the figures are pinned so a change is seen."""
    e = estimate_recipe(load_recipe("open-sora-2.0"), cluster=load_cluster(H200),
                        cost_per_gpu_hour=2.0)  # fmt: skip
    by_name = {s.name: s for s in e.stages}
    assert [s.gpus for s in e.stages] == [224, 192, 192]
    assert by_name["s1-256px-t2v"].samples == pytest.approx(70e6, rel=0.01)  # 85k x 823.5
    assert by_name["s3-768px-ti2v"].plan["buckets"][0]["strategy"]["sp"] == 4
    for stage in e.stages:
        assert 0.98 < stage.goodput.fraction < 1.0
        assert stage.cost == pytest.approx(stage.gpu_days * 24 * 2.0)
    assert e.total.gpu_days == pytest.approx(sum(s.gpu_days for s in e.stages))
    assert 0.55 * 4160 < e.total.gpu_days < 1.15 * 4160


def test_recipe_json_has_exactly_the_documented_keys(capsys):
    assert main(["estimate", "--recipe", "open-sora-2.0", "--cluster", H200, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"stages", "total"}
    assert set(data["total"]) == {"gpu_days", "wall_days", "cost"}
    stage_keys = {"name", "gpus", "iterations", "samples", "step_time_s", "goodput", "wall_days",
                  "gpu_days", "cost", "plan", "bottleneck"}  # fmt: skip
    assert all(set(s) == stage_keys for s in data["stages"])
    goodput = data["stages"][0]["goodput"]
    assert {"fraction", "checkpoint_interval_s", "interruptions_per_day",
            "checkpoint_bytes"} <= set(goodput)  # fmt: skip


def test_no_failures_is_full_goodput(capsys):
    assert main(["estimate", "--recipe", "open-sora-2.0", "--cluster", H200, "--json",
                 "--no-failures"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert all(s["goodput"]["fraction"] == 1.0 for s in data["stages"])


def test_plan_recipe_emits_one_folder_per_stage(tmp_path, capsys):
    assert main(["plan", "--recipe", "open-sora-2.0", "--cluster", H200, "--emit",
                 str(tmp_path), "--json"]) == 0  # fmt: skip
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["s1-256px-t2v", "s2-256px-ti2v", "s3-768px-ti2v"]
    config = json.loads((tmp_path / "s3-768px-ti2v" / "ds_config.json").read_text())
    assert config["zero_optimization"]["stage"] == 2
    stages = json.loads(capsys.readouterr().out)["stages"]
    assert stages[2]["plan"]["buckets"][3]["strategy"]["micro_batch"] == 2


TINY_CLUSTER = {"name": "tiny", "gpu": {"name": "H100", "peak_tflops": {"bf16": 989.4},
                "memory_gib": 80, "hbm_gbyte_per_s": 3350}, "gpus_per_node": 8, "nodes": 4,
                "intra_node": {"gbyte_per_s_per_gpu": 450},
                "inter_node": {"nics_per_node": 8, "gbit_per_s_per_nic": 400}}  # fmt: skip


def test_deadline_mode_takes_the_smallest_grid_size_that_meets_it(tmp_path):
    """A planner-mode recipe (DiT-S/2, two buckets) with a deadline: the size chosen is the
    smallest grid size whose wall days meet it (exhaustive over the 4-node grid: 8, 16, 24, 32
    GPUs), for a deadline that only the larger sizes meet."""
    data = _small(samples=3e6, global_batch=256, buckets=[
        {"height": 256, "width": 256, "weight": 0.7}, {"height": 512, "width": 512, "weight": 0.3}])  # fmt: skip
    data["stages"][0].pop("gpus")
    recipe, cluster = load_recipe(_write(tmp_path, data)), load_cluster(TINY_CLUSTER)
    days = {g: estimate_recipe(recipe, cluster=cluster, gpus=g).total.wall_days
            for g in (8, 16, 24, 32)}  # fmt: skip
    deadline = (days[8] + min(days[g] for g in (16, 24, 32))) / 2  # 8 GPUs miss it
    expected = min(g for g, d in days.items() if d <= deadline)
    e = estimate_recipe(recipe, cluster=cluster, deadline_days=deadline)
    assert e.stages[0].gpus == expected and e.total.wall_days <= deadline
    assert all(days[g] > deadline for g in days if g < expected)


def test_planned_stages_keep_their_constraints(tmp_path):
    """The planner searches only the layouts that keep a stage's parallel keys: sp 2, ZeRO-1 and
    full checkpointing on every bucket of a DiT-S/2 stage on 8 GPUs."""
    data = _small(parallel={"sp": 2, "zero": 1, "ckpt": "full"}, buckets=[
        {"height": 256, "width": 256, "weight": 0.5}, {"height": 512, "width": 512, "weight": 0.5}])  # fmt: skip
    e = estimate_recipe(load_recipe(_write(tmp_path, data)), cluster=load_cluster(TINY_CLUSTER))
    for bucket in e.stages[0].plan["buckets"]:
        strategy = bucket["strategy"]
        assert (strategy["sp"], strategy["zero"], strategy["ckpt"]) == (2, 1, "full")
        assert strategy["dp"] * strategy["tp"] * strategy["pp"] * 2 == 8
