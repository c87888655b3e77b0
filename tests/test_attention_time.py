"""Attention kernels (flash vs unfused), Megatron TP comm overlap, and the stack validation cases state.

Each cost rule is checked against an independent count: the unfused kernel's HBM traffic against
a kernel-by-kernel list of Megatron's CoreAttention tensors, its stored activations against
Korthikanti et al. 2022's 5as²b, and the TP overlap formula against a simulated chunk pipeline.
"""

from __future__ import annotations

import json

import pytest
from repo_files import PUBLIC_CASES as CASES

from parplan.cli import main
from parplan.cluster.comm_model import CallTime, CommModel
from parplan.cluster.comm_ops import CollectiveCall
from parplan.cost.attention import Split, attention_time
from parplan.cost.block import resolve
from parplan.cost.device import Device, Efficiency
from parplan.cost.footprint import block_activation_bytes
from parplan.cost.overlap import exposed_seconds
from parplan.cost.stage import evaluate_blocks
from parplan.cost.step import predict
from parplan.errors import SpecError
from parplan.model.flops import AttentionShape
from parplan.specs import (
    StackSpec,
    StrategySpec,
    load_cluster,
    load_model,
    load_validation_cases,
    load_workload,
)
from parplan.validate.cases import validate

HBM_BYTES_PER_S = 2e12
GPT = load_model({
    "name": "gpt-test", "family": "gpt", "blocks": [{"type": "causal", "count": 4}],
    "hidden": 1024, "heads": 16, "vocab": 51200, "tied_embeddings": True,
})  # fmt: skip
TEXT = load_workload({"kind": "text", "seq_len": 2048, "global_batch": 8, "precision": "fp16"})


def _memory_bound_device() -> Device:
    """Infinite FLOP/s and no launch cost: time x bandwidth is exactly the bytes moved."""
    eff = Efficiency(gemm_max=1.0, attention_max=1.0, hbm=1.0, conv_max=1.0, kernel_overhead_s=0.0)
    return Device(peak_flop_per_s=1e30, hbm_bytes_per_s=HBM_BYTES_PER_S, eff=eff)


def _megatron_core_attention_bytes(*, elems: float, operands: float, e: int, dropout: bool) -> tuple:
    """Bytes each kernel of Megatron's CoreAttention moves, listed kernel by kernel
    (megatron/model/transformer.py, 2021-22): (forward, backward)."""
    mask = 1
    fwd = [
        elems * e + operands,  # baddbmm Q K^T: write scores (+ read q, k)
        2 * elems * e,  # FusedScaleMaskSoftmax: read scores, write probs
        *([2 * elems * e + elems * mask] if dropout else []),  # dropout: read, write, mask
        elems * e + operands,  # bmm probs V: read probs (+ read v, write context)
    ]
    bwd = [
        elems * e + operands,  # dV = P^T dO: read probs
        elems * e + operands,  # dP = dO V^T: write dP
        *([2 * elems * e + elems * mask] if dropout else []),  # dropout bwd: read dP, mask; write
        3 * elems * e,  # softmax bwd: read y, read dy, write dx
        elems * e + operands,  # dQ = dS K
        elems * e + operands,  # dK = dS^T Q
    ]
    return sum(fwd), sum(bwd)


@pytest.mark.parametrize("dropout", [False, True])
@pytest.mark.parametrize("gpus", [1, 8])
def test_unfused_attention_traffic_matches_kernel_list(dropout: bool, gpus: int) -> None:
    shape = AttentionShape(kind="self", sequences=1, q_len=2048, kv_len=2048, heads=32,
                           kv_heads=32, head_dim=128, causal=True)  # fmt: skip
    split = Split(micro_batch=2, gpus=gpus, ring=1, element_bytes=2)
    stack = StackSpec(attention="unfused", attention_dropout=dropout)
    t = attention_time(shape, split, _memory_bound_device(), stack)
    elems = 2 * 2048 * 2048 * 32 / gpus  # causal scores are masked, not skipped
    operands = 2 * (2048 + 2048) * 32 * 128 * 2 / gpus
    fwd_bytes, bwd_bytes = _megatron_core_attention_bytes(
        elems=elems, operands=operands, e=2, dropout=dropout
    )
    assert t.fwd_s * HBM_BYTES_PER_S == pytest.approx(fwd_bytes, rel=1e-9)
    assert t.bwd_s * HBM_BYTES_PER_S == pytest.approx(bwd_bytes, rel=1e-9)


def _block_inputs(stack: StackSpec, tp: int = 4, **strategy):
    s = StrategySpec(tp=tp, megatron_sp=True, micro_batch=2, global_batch=8, dp=1, stack=stack,
                     **strategy)  # fmt: skip
    return resolve(GPT, TEXT, load_cluster("h100-dgx-ndr400"), s, tp)


def test_unfused_scores_are_korthikanti_5as2b() -> None:
    """Korthikanti 2022 eq. (2): 5·a·s²·b bytes per layer (softmax output 2as²b, dropout mask
    as²b, dropout output 2as²b), divided by TP; selective recompute drops exactly them."""
    a, s, b, tp = 16, 2048, 2, 4
    stored = {}
    for name, stack in (("flash", StackSpec()),
                        ("unfused", StackSpec(attention="unfused", attention_dropout=True))):  # fmt: skip
        inp = _block_inputs(stack)
        comm = CommModel(inp.cluster, inp.strategy, 4)
        shape = evaluate_blocks(inp, comm, Device.of(inp.cluster, "fp16"))[0].shape
        stored[name] = {ck: block_activation_bytes(inp, shape, ck)[0] for ck in ("none", "selective")}
    assert stored["unfused"]["none"] - stored["flash"]["none"] == pytest.approx(5 * a * s * s * b / tp)
    assert stored["unfused"]["selective"] == pytest.approx(stored["flash"]["selective"])


def test_unfused_is_slower_and_selective_recompute_pays_more() -> None:
    """The unfused core is memory-bound, so recomputing it (selective) costs more than flash."""
    flash = _block_inputs(StackSpec(), ckpt="selective")
    unfused = _block_inputs(StackSpec(attention="unfused", attention_dropout=True), ckpt="selective")
    p_flash = predict(flash.model, flash.workload, flash.cluster, flash.strategy, 4)
    p_unfused = predict(unfused.model, unfused.workload, unfused.cluster, unfused.strategy, 4)
    assert p_unfused.step_time_s > p_flash.step_time_s
    assert p_unfused.breakdown.recompute_s > 2 * p_flash.breakdown.recompute_s


def _simulated_overlap_exposed(*, comm_s: float, gemm_s: float, chunks: int) -> float:
    """Brute force: the collective is cut into `chunks`; chunk 0 is local, chunk i (i >= 1)
    arrives over the ring while GEMM chunk i - 1 runs; GEMM chunk i needs chunk i present.
    Exposed = makespan - GEMM time."""
    c, g = comm_s / (chunks - 1), gemm_s / chunks
    arrived, gemm_done = 0.0, 0.0
    for i in range(chunks):
        if i > 0:
            arrived += c  # transfers run back to back on the link
        gemm_done = max(gemm_done, arrived) + g
    return gemm_done - gemm_s


@pytest.mark.parametrize("tp", [2, 4, 8])
@pytest.mark.parametrize("ratio", [0.2, 0.7, 1.0, 1.5, 3.0])
def test_tp_overlap_matches_chunk_pipeline(tp: int, ratio: float) -> None:
    inp = _block_inputs(StackSpec(tp_comm_overlap=True), tp=tp)
    comm = CommModel(inp.cluster, inp.strategy, tp)
    parts = evaluate_blocks(inp, comm, Device.of(inp.cluster, "fp16"))[0].parts
    window = parts.gemm_s * parts.column_gemm_share
    comm_s = ratio * window
    call = CollectiveCall(op="all_gather", dim="tp", buffer_bytes=1.0, label="tp.ag")
    timed = CallTime(call=call, group_size=tp, time_s=comm_s, tier="nvlink", edge="-")
    exposed = exposed_seconds(timed, parts, inp)
    expected = _simulated_overlap_exposed(comm_s=comm_s, gemm_s=window, chunks=tp)
    assert exposed == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_tp_overlap_only_hides_tp_time() -> None:
    base = _block_inputs(StackSpec())
    over = _block_inputs(StackSpec(tp_comm_overlap=True))
    p0 = predict(base.model, base.workload, base.cluster, base.strategy, 4)
    p1 = predict(over.model, over.workload, over.cluster, over.strategy, 4)
    assert p1.breakdown.exposed_comm_by_dim_s["tp"] < p0.breakdown.exposed_comm_by_dim_s["tp"]
    assert p1.breakdown.compute_s == pytest.approx(p0.breakdown.compute_s)
    assert p1.breakdown.comm_s["tp"] == pytest.approx(p0.breakdown.comm_s["tp"])


def test_dropout_needs_unfused() -> None:
    with pytest.raises(ValueError, match="attention: unfused"):
        StackSpec(attention_dropout=True)


def test_predict_cli_stack_flags(capsys) -> None:
    argv = ["predict", "--model", "dit-xl-2", "--workload", "imagenet-256", "--gpus", "8", "--json"]
    assert main([*argv, "--attention", "unfused"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["strategy"]["stack"]["attention"] == "unfused"
    assert main([*argv, "--attention", "flashy"]) == 2
    assert "stack.attention" in capsys.readouterr().err


@pytest.mark.skipif(not CASES.exists(), reason="needs ../shared/validation/public_cases.yaml")
def test_validate_uses_each_cases_own_stack() -> None:
    """The public cases state their stack (shared/validation/README.md, "Software stack"): the
    2021-22 Megatron runs unfused with dropout, Megatron-Core on H100 cuDNN with TP overlap."""
    stacks = {c.id: c.strategy.stack for c in load_validation_cases(CASES)}
    k = "korthikanti2022_22b_selective_recompute_sp"
    assert stacks[k] == StackSpec(attention="unfused", attention_dropout=True)
    report = {c.id: c for c in validate(CASES).cases}
    assert report[k].stack["attention"] == "unfused"
    assert report["megatron_core_r080_h100_weak_1p7b"].stack["attention"] == "cudnn"
    # the unfused attention core is what selective recompute recomputes: slower than flash2
    case = next(c for c in load_validation_cases(CASES) if c.id == k)
    flash = case.strategy.model_copy(update={"stack": StackSpec()})
    p = predict(load_model(case.model), load_workload(case.workload), load_cluster(case.cluster), flash, 8)
    assert report[k].predicted_step_time_s > p.step_time_s


def _case(case_id: str):
    from parplan.specs import ValidationCase

    return ValidationCase(
        id=case_id, source="test", model="dit-xl-2", workload="imagenet-256",
        cluster="h100-dgx-ndr400", strategy=StrategySpec(dp=8, global_batch=8),
        measured={"step_time_s": 1.0}, tolerance=0.1,
    )  # fmt: skip


def test_unfused_rejects_ring_from_sp_methods_too() -> None:
    latte = load_model("latte-xl-2")
    assert {g.type for g in latte.blocks} >= {"spatial"}
    with pytest.raises(ValueError, match="ring attention"):
        StrategySpec(sp=2, sp_method="ulysses", sp_methods={"spatial": "ring"},
                     stack=StackSpec(attention="unfused"))  # fmt: skip
    with pytest.raises(ValueError, match="ring attention"):
        StrategySpec(sp=2, sp_method="ulysses", sp_methods={"spatial": "usp"}, ulysses=1, ring=2,
                     stack=StackSpec(attention="unfused"))  # fmt: skip


def test_a_case_whose_stack_contradicts_its_layout_is_a_spec_error(tmp_path) -> None:
    data = _case("ring_case").model_dump(mode="json", exclude_none=True)
    data["strategy"] = {"dp": 4, "sp": 2, "sp_method": "ring", "global_batch": 8,
                        "stack": {"attention": "unfused"}}  # fmt: skip
    cases = tmp_path / "cases.yaml"
    cases.write_text(json.dumps([data]))
    with pytest.raises(SpecError, match="ring attention"):
        validate(cases)


def test_planner_keeps_the_users_stack() -> None:
    """Unfused attention: no ring or USP layouts; every plan carries the stack it was priced with."""
    from parplan.plan.planner import plan

    latte = load_model("latte-xl-2")
    small = load_workload({"kind": "video", "frames": 16, "height": 256, "width": 256,
                           "vae": {"temporal": 1, "spatial": 8}, "global_batch": 8})  # fmt: skip
    stack = StackSpec(attention="unfused", tp_comm_overlap=True)
    result = plan(model=latte, workload=small, cluster=load_cluster("h100-dgx-ndr400"),
                  num_gpus=8, top_k=6, stack=stack)  # fmt: skip
    assert result.plans
    for p in result.plans:
        assert p.strategy.stack == stack
        assert not {"ring", "usp"} & p.strategy.methods_used


def test_plan_cli_stack_flags(capsys) -> None:
    argv = ["plan", "--model", "dit-xl-2", "--workload", "imagenet-256", "--gpus", "8", "--top", "1",
            "--json", "--attention", "unfused", "--tp-comm-overlap"]  # fmt: skip
    assert main(argv) == 0
    stack = json.loads(capsys.readouterr().out)["plans"][0]["strategy"]["stack"]
    assert stack == {"attention": "unfused", "attention_dropout": False, "tp_comm_overlap": True,
                     "elementwise": "eager", "text_encoder_precision": None,
                     "zero_impl": "megatron"}  # fmt: skip
    assert main([*argv[:-3], "--attention", "flashy"]) == 2
    assert "stack flags" in capsys.readouterr().err


def test_tp_overlap_without_megatron_sp_says_so() -> None:
    inp = _block_inputs(StackSpec(tp_comm_overlap=True))
    s = inp.strategy.model_copy(update={"megatron_sp": False})
    p = predict(inp.model, inp.workload, inp.cluster, s, 4)
    assert any("tp_comm_overlap" in n for n in p.notes)
