"""`parplan models` and `parplan model` (issue 3 item 4): JSON for scripts, a table for people."""

from __future__ import annotations

import json

import pytest

from parplan.cli import main

PRESETS = (
    "dit-xl-2 dit-l-2 dit-b-2 dit-s-2 uvit-h-2 pixart-alpha pixart-sigma latte-xl-2 open-sora-1.2 "
    "open-sora-2.0 open-sora-plan-1.3 cogvideox-2b cogvideox-5b hunyuanvideo wan2.1-1.3b "
    "wan2.1-14b mochi-1 ltx-video step-video-t2v movie-gen-30b allegro sd3-medium flux-dev "
    "sora-estimate"
).split()


def run_json(capsys, *args: str) -> dict | list:
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_models_json_lists_every_preset(capsys):
    """Issue 3 item 1: the 24 named presets, each with its parameter count."""
    rows = {r["name"]: r for r in run_json(capsys, "models", "--json")}
    assert set(PRESETS) <= set(rows)
    assert rows["dit-xl-2"]["params"] == 674_834_720
    assert rows["sora-estimate"]["params"] == pytest.approx(30 * 674_834_720, rel=0.01)


def test_model_json_dit_default_workload(capsys):
    """DiT-XL/2 on the default imagenet-256: 256 tokens, 2 x 118.64 GFLOP forward (DiT Table 4)."""
    rec = run_json(capsys, "model", "dit-xl-2", "--json")
    assert rec["workload"] == "imagenet-256" and rec["tokens_per_sample"] == 256
    assert rec["forward_flops_per_sample"] == pytest.approx(2 * 118.64e9, rel=0.005)
    assert rec["train_flops_per_sample"] == pytest.approx(3 * rec["forward_flops_per_sample"])
    assert [b["block_type"] for b in rec["blocks"]] == ["full"]


def test_model_json_video_with_workload(capsys):
    """HunyuanVideo 720p x 129 frames: 118,800 tokens (model_notes §3), two block types."""
    rec = run_json(capsys, "model", "hunyuanvideo", "--workload", "video-720p-129f", "--json")
    assert rec["tokens_per_sample"] == 118_800 and rec["attention_tokens"] == 119_056
    assert {b["block_type"] for b in rec["blocks"]} == {"mmdit", "full"}
    total = sum(b["forward_flops_total"] for b in rec["blocks"]) + rec["embed_flops_per_sample"]
    assert total == pytest.approx(rec["forward_flops_per_sample"])


def test_model_from_files(tmp_path, capsys):
    """A model FILE and a workload FILE work like presets."""
    model = tmp_path / "tiny.yaml"
    model.write_text("name: tiny\nhidden: 64\nheads: 4\nblocks: [{type: full, count: 2}]\n")
    workload = tmp_path / "w.yaml"
    workload.write_text("name: w\nkind: image\nheight: 64\nwidth: 64\n")
    rec = run_json(capsys, "model", str(model), "--workload", str(workload), "--json")
    assert rec["name"] == "tiny" and rec["tokens_per_sample"] == 16


def test_model_table_for_people(capsys):
    """Without --json: a rich table naming the model, the block types and the totals."""
    assert main(["model", "open-sora-1.2", "--workload", "video-256px-51f"]) == 0
    out = capsys.readouterr().out
    assert "open-sora-1.2" in out and "spatial" in out and "temporal" in out and "forward" in out
    assert main(["models"]) == 0
    assert "wan2.1-14b" in capsys.readouterr().out
