"""SP method per block type (`StrategySpec.sp_methods`): validation, the switch physics, the
block ILP against predict and brute force, and the planner against brute force over mixes."""

from __future__ import annotations

import itertools
import json

import pytest
import yaml
from pydantic import ValidationError

from parplan.cli import main
from parplan.cost.block import dsp_switches_per_block
from parplan.cost.options import sp_block_options
from parplan.cost.step import predict
from parplan.cost.step_calls import step_collectives
from parplan.errors import SpecError
from parplan.plan.emit import emit
from parplan.plan.ilp import solve_blocks
from parplan.plan.planner import plan
from parplan.plan.program import block_program
from parplan.plan.space import core_candidates, mix_fields, orders_for, strategy_of
from parplan.plan.state import layout_key
from parplan.specs import StrategySpec, WorkloadSpec, load_cluster, load_model

LATTE = load_model("latte-xl-2")  # 14 spatial + 14 temporal blocks, interleaved
CLUSTER = load_cluster("h100-dgx-ndr400")
SMALL = WorkloadSpec(kind="video", frames=16, height=256, width=256, global_batch=8)
METHODS = ("ulysses", "ring", "fastseq", "usp", "dsp")


def _strategy(mix: dict[str, str], **extra) -> StrategySpec:
    usp = {"ulysses": 2, "ring": 2} if "usp" in mix.values() else {}
    fields = dict(dp=2, sp=4, global_batch=8, sp_method=mix["spatial"], **usp, **extra)
    if mix["temporal"] != mix["spatial"]:
        fields["sp_methods"] = {"temporal": mix["temporal"]}
    return StrategySpec(**fields)


def _mixes() -> list[dict[str, str]]:
    return [dict(zip(("spatial", "temporal"), m, strict=True)) for m in itertools.product(METHODS, repeat=2)]


# --------------------------------------------------------------------------- validation


def test_uniform_sp_methods_equal_sp_method() -> None:
    every = StrategySpec(dp=2, sp=4, sp_method="ulysses", global_batch=8,
                         sp_methods={"spatial": "ring", "temporal": "ring"})  # fmt: skip
    plain = StrategySpec(dp=2, sp=4, sp_method="ring", global_batch=8)
    a, b = predict(LATTE, SMALL, CLUSTER, every, 8), predict(LATTE, SMALL, CLUSTER, plain, 8)
    assert a.step_time_s == pytest.approx(b.step_time_s, rel=1e-12)
    assert a.memory.total_bytes == pytest.approx(b.memory.total_bytes, rel=1e-12)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sp": 1, "sp_methods": {"spatial": "ring"}}, "needs sp > 1"),
        ({"sp_methods": {"spatial": "none"}}, "give an SP method"),
        ({"sp_methods": {"spatial": "usp"}}, "ulysses*ring"),
        ({"sp_methods": {"spatial": "magic"}}, "magic"),
        ({"sp_methods": {"cube": "ring"}}, "cube"),
    ],
)
def test_sp_methods_spec_errors(fields: dict, message: str) -> None:
    base = {"dp": 2, "sp": 4, "sp_method": "ulysses", "global_batch": 8}
    if fields.get("sp") == 1:
        base.update(dp=8, sp_method="none")
    with pytest.raises(ValidationError, match=message.replace("*", r"\*")):
        StrategySpec(**{**base, **fields})


@pytest.mark.parametrize(
    ("model", "workload", "sp_methods", "message"),
    [
        ("latte-xl-2", SMALL, {"full": "ring"}, "sp_methods.full: latte-xl-2 has no full blocks"),
        ("hunyuanvideo", SMALL.model_copy(update={"frames": 17}), {"full": "dsp"},
         "sp_methods.full=dsp: DSP switches"),
        ("latte-xl-2", SMALL.model_copy(update={"frames": 15}), {"spatial": "dsp"},
         "sp_methods.spatial=dsp: sp=4 must divide the 15 frames"),
    ],
)  # fmt: skip
def test_sp_methods_model_errors(model, workload, sp_methods, message) -> None:
    strategy = StrategySpec(dp=2, sp=4, sp_method="ring", global_batch=8, sp_methods=sp_methods)
    with pytest.raises(SpecError, match=message.replace(".", r"\.")):
        predict(load_model(model), workload, CLUSTER, strategy, 8)


def test_cli_sp_methods_bad_input_is_one_line_exit_2(capsys) -> None:
    args = ["predict", "--model", "latte-xl-2", "--workload", "video-512px-64f", "--gpus", "8",
            "--sp", "4", "--sp-method", "ulysses"]  # fmt: skip
    for bad in ("spatial", "spatial=dsp,temporal", "cube=ring", "spatial=magic"):
        assert main(args + ["--sp-methods", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error:"), err


# ------------------------------------------------------------------------------ physics


def test_switches_follow_the_layouts() -> None:
    """Token-sharded methods mix freely; DSP on either side of an interleaved spatial/temporal
    pair switches 2*min(S, T) times per forward (carried by the scarcer type, here spatial)."""
    for mix in _mixes():
        switches = dsp_switches_per_block(LATTE, _strategy(mix))
        expected = {"spatial": 2} if "dsp" in mix.values() else {}
        assert switches == expected, mix
    calls = step_collectives(LATTE, SMALL, _strategy({"spatial": "ring", "temporal": "dsp"}))
    fwd = sum(c.count for c, _ in calls if c.label == "dsp.switch" and c.phase == "fwd")
    microbatches = SMALL.global_batch // 2
    assert fwd == 2 * 14 * microbatches


def test_block_ilp_matches_predict_and_brute_force_over_mixes() -> None:
    """Items per (group, method, ckpt) from the real cost model: the ILP restricted to each
    mix prices it like predict (the fixed part is the least over the methods, so within a
    small tolerance and never above), and the full ILP is the best mix (brute force)."""
    base = _strategy({"spatial": "usp", "temporal": "usp"})
    offered = {"spatial": list(METHODS), "temporal": list(METHODS)}
    found = sp_block_options(LATTE, SMALL, CLUSTER, base, offered, 8)
    program = block_program(LATTE, found.options, fixed_time_s=found.fixed_time_s,
                            fixed_memory_bytes=found.fixed_memory_bytes,
                            capacity_bytes=CLUSTER.gpu.memory_bytes)  # fmt: skip
    per_mix = {}
    for mix in _mixes():
        others = [m for m in _mixes() if m != mix]
        solution = solve_blocks(program.model_copy(update={"excluded_mixes": others}))
        assert solution.methods == mix
        predicted = predict(LATTE, SMALL, CLUSTER, _strategy(mix), 8).step_time_s
        assert solution.step_time_s <= predicted * (1 + 1e-9)
        assert solution.step_time_s == pytest.approx(predicted, rel=2e-3), mix
        per_mix[tuple(mix.values())] = solution.step_time_s
    best = solve_blocks(program)
    assert best.step_time_s == pytest.approx(min(per_mix.values()), rel=1e-9)


# ------------------------------------------------------------------------------ planner


def _brute_force(model, workload, gpus) -> list[float]:
    """Best predicted step of every distinct layout (planner.layout_key: degrees, ZeRO,
    micro-batch, SP method per block type) over every core, rank order and SP method per block
    type, fastest first (checkpointing off: memory does not bind here)."""
    best: dict[tuple, float] = {}
    for core in core_candidates(model=model, num_gpus=gpus, global_batch=workload.global_batch,
                                gpus_per_node=8, per_type=True):  # fmt: skip
        types = sorted(core.type_methods or {})
        mixes = [None] if not types else [
            dict(zip(types, ms, strict=True))
            for ms in itertools.product(*(core.type_methods[t] for t in types))
        ]  # fmt: skip
        for order, mix in itertools.product(orders_for(core.model_dump()), mixes):
            fields = None if mix is None else mix_fields(core, mix, model)
            s = strategy_of(core, order=order, global_batch=workload.global_batch, sp_fields=fields)
            try:
                p = predict(model, workload, CLUSTER, s, gpus)
            except SpecError:
                continue
            if p.fits:
                key = layout_key(s)
                best[key] = min(best.get(key, float("inf")), p.step_time_s)
    return sorted(best.values())


@pytest.mark.parametrize("frames", [16, 15])  # 15 frames: DSP cannot split, token methods only
def test_planner_equals_brute_force_over_mixes(frames: int) -> None:
    """The top k distinct layouts, not only the best: runner-up SP-method mixes of one core
    are layouts of their own."""
    workload = WorkloadSpec(kind="video", frames=frames, height=512, width=512, global_batch=1)
    result = plan(model=LATTE, workload=workload, cluster=CLUSTER, num_gpus=8, top_k=4)
    best = result.plans[0]
    assert best.strategy.ckpt == "none"
    brute = _brute_force(LATTE, workload, 8)[:4]
    assert [p.step_time_s for p in result.plans] == pytest.approx(brute, rel=1e-9)
    again = predict(LATTE, workload, CLUSTER, best.strategy, 8)
    assert again.step_time_s == best.step_time_s


def test_plans_are_distinct_layouts_sorted() -> None:
    result = plan(model=LATTE, workload=SMALL, cluster=CLUSTER, num_gpus=8, top_k=6)
    keys = [layout_key(p.strategy) for p in result.plans]
    assert len(set(keys)) == len(keys) == 6
    times = [p.step_time_s for p in result.plans]
    assert times == sorted(times)
    assert result.to_json() == plan(model=LATTE, workload=SMALL, cluster=CLUSTER, num_gpus=8,
                                    top_k=6).to_json() | {"search": result.to_json()["search"]}  # fmt: skip


def test_mixed_plan_yaml_round_trips_through_predict(tmp_path, capsys) -> None:
    strategy = _strategy({"spatial": "ring", "temporal": "dsp"})
    emit(directory=tmp_path, strategy=strategy, model=LATTE, workload=SMALL, cluster=CLUSTER,
         num_gpus=8)  # fmt: skip
    assert yaml.safe_load((tmp_path / "plan.yaml").read_text())["sp_methods"] == {"temporal": "dsp"}
    assert "--sp-methods temporal=dsp" in (tmp_path / "launch.sh").read_text()
    workload = tmp_path / "w.yaml"
    workload.write_text(yaml.safe_dump(SMALL.model_dump(mode="json")))
    assert main(["predict", "--model", "latte-xl-2", "--workload", str(workload), "--gpus", "8",
                 "--strategy", str(tmp_path / "plan.yaml"), "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["step_time_s"] == predict(LATTE, SMALL, CLUSTER, strategy, 8).step_time_s
    assert out["strategy"]["sp_methods"] == {"temporal": "dsp"}
