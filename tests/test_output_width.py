"""Every command's tables read at 80 columns (issue 16, "Output a person reads").

Each command runs in-process with COLUMNS=80 (rich's Console width); every rich Table it prints
is rendered again at that width and checked: no column is dropped or cropped, a number or a
layout string (the cells of the no-wrap columns) stays whole on one line, and in free text
(wrapping columns) no number is split. Free text may wrap between words.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console, Group
from rich.table import Table

from parplan.cli import main
from parplan.commands.plan_tables import plans_table, print_result
from parplan.commands.recipe_tables import bucket_tables
from parplan.plan.results import Plan, PlanResult, SearchStats
from parplan.specs import StackSpec, StrategySpec

WIDTH = 80
NUMBER = re.compile(r"\d")
ONE_NUMBER = re.compile(r"^[-+$]?\d[\d.,:x]*(e[-+]?\d+)?%?$")  # 1,234  24.6%  1.28e+21  8x400
WHOLE = ("layout",)  # columns whose cells must stay on one line whatever the table declares


def _tables(renderable) -> list[Table]:  # noqa: ANN001
    if isinstance(renderable, Table):
        return [renderable]
    if isinstance(renderable, Group):
        return [t for r in renderable.renderables for t in _tables(r)]
    return []


@pytest.fixture
def printed_tables(monkeypatch):
    """The rich Tables the command prints (Console.print recorded, then passed on)."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    seen: list[Table] = []
    original = Console.print

    def record(self, *objects, **kwargs):  # noqa: ANN001, ANN002, ANN003
        for obj in objects:
            seen.extend(_tables(obj))
        return original(self, *objects, **kwargs)

    monkeypatch.setattr(Console, "print", record)
    return seen


def _render(table: Table) -> list[str]:
    console = Console(width=WIDTH, file=io.StringIO(), color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(table)
    return capture.get().splitlines()


def assert_reads_at_80(table: Table) -> None:
    lines = _render(table)
    text = "\n".join(lines)
    assert max(map(len, lines), default=0) <= WIDTH
    cells = " ".join(str(c) for column in table.columns for c in column._cells)
    assert "…" not in text or "…" in cells, f"a cell was cut short at {WIDTH} columns:\n{text}"
    for column in table.columns:
        header = str(column.header)
        assert header.split()[0] in text, f"column {header!r} dropped at {WIDTH} columns"
        for cell in map(str, column._cells):
            if not cell.strip():
                continue
            if column.no_wrap or header in WHOLE or ONE_NUMBER.match(cell.strip()):
                # a number, a layout string: whole, on one line
                assert any(cell.strip() in line for line in lines), (
                    f"{header}: {cell!r} wrapped or cut at {WIDTH} columns:\n{text}")
                continue
            for word in cell.split():  # free text: may wrap, never inside a number
                if NUMBER.search(word) and len(word) <= 12:
                    assert re.search(rf"(?<!\S){re.escape(word)}(?!\S)", text), (
                        f"{header}: {word!r} of {cell!r} split at {WIDTH} columns:\n{text}")


def test_the_check_fails_on_a_wrapped_layout() -> None:
    """The old `parplan plan` table (issue 16): boxed, the layout a wrapping column, four
    lines per layout at 80 columns."""
    old = Table(title="hunyuanvideo · video-720p-129f · h100-dgx-ndr400 on 64 GPUs")
    for column in ("#", "layout", "zero", "mb", "ckpt", "order", "step s", "MFU", "GiB/GPU",
                   "bottleneck"):  # fmt: skip
        old.add_column(column, no_wrap=column not in ("layout", "ckpt", "order", "bottleneck"))
    old.add_row("1", "dp4 sp16 usp 8x2", "3", "1", "none", "sp,dp", "297.095", "24.6%", "54.8",
                "compute")  # fmt: skip
    with pytest.raises(AssertionError, match="cut short|layout: 'dp4 sp16 usp 8x2' wrapped"):
        assert_reads_at_80(old)


COMMANDS = {
    "plan": ["plan", "--model", "open-sora-1.2", "--workload", "video-512px-64f", "--gpus", "32"],
    "plan-recipe": ["plan", "--recipe", "open-sora-2.0", "--cluster", "h200-dgx-ndr400"],
    "compare-sp": ["compare-sp", "--model", "latte-xl-2", "--workload", "video-512px-64f",
                   "--gpus", "16", "--zero", "2", "--ckpt", "full"],
    "compare-sp-workloads": ["compare-sp", "--model", "open-sora-plan-1.3", "--workloads",
                             "video-480p-81f,video-720p-81f", "--sp-degrees", "2,4", "--gpus", "4"],
    "compare-sp-infeasible": ["compare-sp", "--sp-degrees", "2,4,8,16"],
    "predict": ["predict", "--sp", "8", "--sp-method", "ulysses", "--zero", "3", "--ckpt", "full"],
    "predict-usp": ["predict", "--sp", "16", "--sp-method", "usp", "--ulysses", "4", "--ring", "4",
                    "--tp", "2", "--zero", "3", "--ckpt", "full"],
    "validate": ["validate", "../shared/validation/public_cases.yaml"],
    "validate-holdout": ["validate", "validation/holdout_cases.yaml"],
    "estimate-ff": ["estimate", "--factorial-funds"],
    "estimate-training": ["estimate", "--model", "dit-xl-2", "--workload", "imagenet-256",
                          "--cluster", "h100-dgx-ndr400", "--train-samples", "1e8",
                          "--deadline-days", "3", "--cost-per-gpu-hour", "2"],
    "estimate-inference": ["estimate", "--model", "hunyuanvideo", "--workload", "video-720p-129f",
                           "--cluster", "h100-dgx-ndr400", "--inference", "--steps", "50",
                           "--demand-minutes-per-day", "1e6"],
    "estimate-recipe": ["estimate", "--recipe", "open-sora-2.0", "--cluster", "h200-dgx-ndr400",
                        "--cost-per-gpu-hour", "2"],
    "models": ["models"],
    "model": ["model", "hunyuanvideo"],
    "clusters": ["clusters"],
    "cluster": ["cluster", "h100-dgx-ndr400", "--gpus", "64"],
    "kernels-hopper": ["kernels", "show"],
    "kernels-blackwell": ["kernels", "show", "--cluster", "gb200-nvl72"],
    "kernels-ampere": ["kernels", "show", "--cluster", "a100-selene"],
}  # fmt: skip


@pytest.mark.parametrize("argv", COMMANDS.values(), ids=COMMANDS.keys())
def test_command_tables_fit_80_columns(printed_tables, capsys, argv) -> None:
    assert main(argv) == 0, capsys.readouterr().err
    assert printed_tables, "the command printed no table"
    for table in list(printed_tables):  # rendering them again records them again
        assert_reads_at_80(table)


# The widest layouts the planner emits take tp, sp with a USP split and a per-type mix, pp with
# interleaving: the plan table must still fit (bottlenecks move under it when it would not).
WIDE = StrategySpec(dp=2, tp=2, sp=8, pp=2, vpp=2, sp_method="usp", ulysses=4, ring=2,
                    sp_methods={"mmdit": "fastseq"}, zero=1, ckpt="full", order=["tp", "sp", "pp", "dp"])  # fmt: skip


def _plan(k: int) -> Plan:
    return Plan(strategy=WIDE, step_time_s=12345.678 + k, mfu=0.213, hfu=0.25, memory_gib_per_gpu=79.9,
                tokens_per_s_per_gpu=1000.0, samples_per_s=0.1,
                bottleneck={"dim": "sp", "tier": "infiniband"}, ilp_step_time_s=12345.0,
                ckpt_blocks={"full": 18, "none": 42})  # fmt: skip


def test_widest_plan_table_fits(monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    stats = SearchStats(seconds=1.0, candidates=10, evaluated=3, pruned=7, pruned_by={"bound": 7},
                        solver="highs", ilp_solves=3, order_space="all", optimal=True)  # fmt: skip
    result = PlanResult(plans=[_plan(k) for k in range(3)], gpus=64, nodes=8, global_batch=128,
                        search=stats)  # fmt: skip
    wide = plans_table(result)
    assert "bottleneck" in [c.header for c in wide.columns]
    print_result(result, title="hunyuanvideo · video-720p-129f · h100-dgx-ndr400", stack=StackSpec())
    out = capsys.readouterr().out
    assert "dp2 tp2 sp8 fastseq/usp4x2 pp2x2" in out
    assert "bottleneck: #1-3 sp on infiniband" in out  # the column moved under the table
    narrow = plans_table(result, bottleneck=False)
    assert_reads_at_80(narrow)


def test_widest_recipe_buckets_fit(capsys) -> None:
    """The bucket table with sora-class's widest layouts (dp16 tp2 sp128 usp16x8) and a
    checkpoint mix."""
    from parplan.estimate.recipe import RecipeEstimate

    assert main(["estimate", "--recipe", "open-sora-2.0", "--cluster", "h200-dgx-ndr400",
                 "--json"]) == 0  # fmt: skip
    import json

    data = json.loads(capsys.readouterr().out)
    wide = StrategySpec(dp=16, tp=2, sp=128, sp_method="usp", ulysses=16, ring=8, zero=3,
                        micro_batch=12, ckpt=["none"] * 65 + ["full"] * 2).model_dump(mode="json")  # fmt: skip
    for stage in data["stages"]:
        for bucket in stage["plan"]["buckets"]:
            bucket["strategy"] = wide
            bucket["batch"] = 12_345
    for table in bucket_tables(RecipeEstimate.model_validate(data)):
        assert_reads_at_80(table)


def test_measured_kernel_table_fits(printed_tables, tmp_path, capsys) -> None:
    """`kernels show` of a cluster with a measured `kernels:` table (hand-written rows shaped
    as `parplan kernels measure` writes them, long layer names included)."""
    import yaml

    from parplan.specs import load_cluster

    table = {"provenance": {"device": "NVIDIA H100 80GB HBM3", "torch": "2.13.0",
                            "date": "2026-01-01", "command": "parplan kernels measure --model "
                            "hunyuanvideo --workload video-720p-129f --out k.yaml",
                            "dtype": "bf16", "repeats": 5},
             "gemm": [{"name": "mmdit.img_qkv,mmdit.txt_qkv,full.qkv_mlp_in", "m": 118800,
                       "n": 9216, "k": 3072, "dtype": "bf16", "tflops": 612.5}],
             "attention": [{"kernel": "cudnn", "direction": "fwd", "head_dim": 128,
                            "q_len": 119056, "kv_len": 119056, "tflops": 601.25}],
             "block": [{"block_type": "mmdit", "tokens": 119056, "fwd_s": 0.0123,
                        "bwd_s": 0.0251}]}  # fmt: skip
    (tmp_path / "k.yaml").write_text(yaml.safe_dump(table))
    spec = load_cluster("h100-dgx-ndr400").model_dump(mode="json", exclude_none=True)
    spec.update(name="h100-measured", kernels="k.yaml")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(spec))
    assert main(["kernels", "show", "--cluster", str(tmp_path / "c.yaml")]) == 0, capsys.readouterr().err
    assert len(printed_tables) == 3
    for printed in list(printed_tables):
        assert_reads_at_80(printed)
