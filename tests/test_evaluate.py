"""The strategy cost model: invariants (hypothesis), published orderings and bad input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from repo_files import PUBLIC_CASES as CASES

from parplan.cli import main
from parplan.cost.step import predict
from parplan.errors import SpecError
from parplan.specs import (
    StrategySpec,
    load_cluster,
    load_model,
    load_validation_cases,
    load_workload,
)

H100 = load_cluster("h100-dgx-ndr400")
TINY = load_model({
    "name": "tiny-video-dit", "hidden": 512, "heads": 8, "blocks": [{"type": "full", "count": 4}],
    "cross_attention": True, "text_tokens": 64, "patch": [1, 2, 2], "in_channels": 4,
})  # fmt: skip
VIDEO = load_workload({"kind": "video", "frames": 16, "height": 256, "width": 256,
                       "vae": {"temporal": 1, "spatial": 8}, "global_batch": 256})  # fmt: skip

strategies = st.builds(
    lambda tp, sp, method, zero, ckpt, mb: StrategySpec(
        dp=64 // (tp * sp), tp=tp, sp=sp, sp_method=method if sp > 1 else "none", zero=zero,
        ckpt=ckpt, micro_batch=mb, global_batch=256, megatron_sp=tp > 1,
    ),
    tp=st.sampled_from([1, 2, 4, 8]),
    sp=st.sampled_from([1, 2, 4, 8]),
    method=st.sampled_from(["ulysses", "ring", "fastseq"]),
    zero=st.sampled_from([0, 1, 2, 3]),
    ckpt=st.sampled_from(["none", "selective", "full"]),
    mb=st.sampled_from([1, 2, 4]),
)
def _predict_or_skip(model, workload, cluster, strategy):
    """Invalid combinations (heads or tokens not divisible) are not what these tests are about."""
    try:
        return predict(model, workload, cluster, strategy, 64)
    except SpecError:
        assume(False)


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(strategies)
def test_breakdown_sums_to_step_time(strategy: StrategySpec) -> None:
    p = _predict_or_skip(TINY, VIDEO, H100, strategy)
    b = p.breakdown
    parts = b.compute_s + b.exposed_comm_s + b.bubble_s + b.optimizer_s + b.encoder_s
    assert parts == pytest.approx(p.step_time_s, rel=1e-9)
    assert b.exposed_comm_s <= sum(b.comm_s.values()) * 2 + 1e-12  # full recompute repeats fwd
    if strategy.tp == 1:
        assert b.comm_s["tp"] == 0
    if strategy.sp == 1:
        assert b.comm_s["sp"] == 0


@FAST
@given(st.sampled_from([1, 2, 4, 8, 16]), st.sampled_from(["none", "full"]), st.sampled_from([0, 1, 2, 3]))
def test_more_dp_at_fixed_per_gpu_batch_never_faster(dp: int, ckpt: str, zero: int) -> None:
    """Weak scaling: doubling DP with the same per-GPU work cannot shorten the step. The one
    term allowed to shrink is the optimizer update that ZeRO >= 1 shards over more ranks."""
    def step(d: int) -> tuple[float, float]:
        s = StrategySpec(dp=d, sp=2, sp_method="ulysses", zero=zero, ckpt=ckpt, micro_batch=1,
                         global_batch=4 * d)  # fmt: skip
        p = predict(TINY, VIDEO, H100, s, 2 * d)
        return p.step_time_s, p.breakdown.optimizer_s

    (small, opt_small), (large, opt_large) = step(dp), step(2 * dp)
    assert large + (opt_small - opt_large) >= small * (1 - 1e-9)
    if zero == 0:
        assert large >= small * (1 - 1e-9)


@FAST
@given(strategies, st.floats(1.0, 8.0))
def test_more_bandwidth_never_slower(strategy: StrategySpec, factor: float) -> None:
    base = _predict_or_skip(TINY, VIDEO, H100, strategy).step_time_s
    faster = H100.model_copy(update={
        "intra_node": H100.intra_node.model_copy(update={"gbyte_per_s_per_gpu": 450 * factor}),
        "inter_node": H100.inter_node.model_copy(update={"gbit_per_s_per_nic": 400 * factor}),
    })  # fmt: skip
    assert predict(TINY, VIDEO, faster, strategy, 64).step_time_s <= base * (1 + 1e-9)


def _case_pairs() -> list[tuple]:
    if not CASES.exists():
        return []
    cases = {c.id: c for c in load_validation_cases(CASES)}
    pairs = []
    for size in ("22b", "175b", "530b", "1t"):
        sel, full = cases[f"korthikanti2022_{size}_selective_recompute_sp"], cases[f"korthikanti2022_{size}_full_recompute_baseline"]
        pairs.append((sel, full))
    return pairs


@pytest.mark.skipif(not CASES.exists(), reason="../shared/validation absent")
@pytest.mark.parametrize(("selective", "full"), _case_pairs(), ids=["22b", "175b", "530b", "1t"][: len(_case_pairs())])
def test_selective_recompute_beats_full(selective, full) -> None:
    """Korthikanti et al. 2022 Table 5: selective recompute + SP is faster than full recompute."""
    def step(case) -> float:
        cluster = load_cluster(case.cluster)
        return predict(load_model(case.model), load_workload(case.workload), cluster, case.strategy,
                       case.num_gpus or cluster.num_gpus).step_time_s  # fmt: skip

    assert step(selective) < step(full)
    assert step(selective) / step(full) == pytest.approx(selective.measured.step_time_s / full.measured.step_time_s, abs=0.15)


@pytest.mark.parametrize("sp", [2, 4, 8])
def test_dsp_beats_ulysses_on_spatial_temporal_dit(sp: int) -> None:
    """DSP paper Fig. 3 (sequence_parallel.md §4): DSP > Ulysses throughput for STDiT at every p."""
    model = load_model({**TINY.model_dump(exclude={"extras"}), "blocks": [{"type": "spatial_temporal", "count": 4}]})
    workload = load_workload({**VIDEO.model_dump(), "frames": 64, "height": 512, "width": 512})
    cluster = load_cluster("h800-ib")
    def step(method: str) -> float:
        s = StrategySpec(dp=8 // sp, sp=sp, sp_method=method, zero=2, ckpt="full", global_batch=8 // sp)
        return predict(model, workload, cluster, s, 8).step_time_s

    assert step("dsp") < step("ulysses")


def test_ring_hides_behind_attention_at_long_sequences() -> None:
    """sequence_parallel.md §2a: ring P2P hides once s/p ≳ e·F_attn/(2·BW); 118,800 tokens over
    8 NVLink ranks is far past that, so ring's exposed SP time is a small share of its total."""
    model, workload = load_model("hunyuanvideo"), load_workload("video-720p-129f")
    s = StrategySpec(dp=1, sp=8, sp_method="ring", zero=3, ckpt="full", global_batch=1)
    p = predict(model, workload, H100, s, 8)
    assert p.breakdown.exposed_comm_by_dim_s["sp"] < 0.2 * p.breakdown.comm_s["sp"]


def _run(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--gpus", "64", "--dp", "8", "--sp", "2", "--sp-method", "ulysses"], "dp*tp*sp*pp = 8*1*2*1 = 16"),
        (["--gpus", "8", "--tp", "8", "--model", "dit-xl-2", "--workload", "imagenet-256"], None),
        (["--gpus", "24", "--tp", "24", "--model", "dit-xl-2", "--workload", "imagenet-256"], "tp=24 must divide heads=16"),
        (["--gpus", "4", "--sp", "4", "--sp-method", "ulysses", "--model", "cogvideox-2b",
          "--workload", "video-480p-81f"], "30 heads per TP rank not divisible by the ulysses degree 4"),
        (["--gpus", "8", "--sp", "8", "--sp-method", "zigzag"], "sp_method='zigzag' must be"),
        (["--gpus", "8", "--micro-batch", "3", "--global-batch", "64"], "must divide global_batch"),
        (["--gpus", "8", "--model", "no-such-model"], "no such preset"),
    ],
)
def test_predict_bad_input_exits_2(args: list[str], needle: str | None, capsys) -> None:
    code, err = _run(["predict", *args], capsys)
    if needle is None:
        assert code == 0
        return
    assert code == 2
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_predict_json_has_the_documented_keys(capsys) -> None:
    import json

    code = main(["predict", "--gpus", "16", "--sp", "8", "--sp-method", "ulysses", "--zero", "3",
                 "--ckpt", "full", "--global-batch", "16", "--json"])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("step_time_s", "mfu", "hfu", "tflops_per_gpu", "tokens_per_s_per_gpu", "samples_per_s",
                "memory_gib_per_gpu", "fits", "breakdown", "bottleneck"):  # fmt: skip
        assert key in data
    for key in ("compute_s", "exposed_comm_s", "comm_s", "bubble_s", "optimizer_s"):
        assert key in data["breakdown"]
    for key in ("dim", "collective", "tier", "exposed_s", "advice"):
        assert key in data["bottleneck"]


def test_dsp_needs_factorized_blocks() -> None:
    s = StrategySpec(dp=1, sp=2, sp_method="dsp", global_batch=1)
    with pytest.raises(SpecError, match="needs spatial/temporal blocks"):
        predict(TINY, VIDEO, H100, s, 2)


def test_per_block_checkpoint_list_sits_between_uniform_modes() -> None:
    """SPEC_FORMAT: `ckpt` may list one mode per block; half full / half none costs in between."""
    def run(ckpt) -> tuple[float, float]:
        s = StrategySpec(dp=8, ckpt=ckpt, micro_batch=4, global_batch=256)
        p = predict(load_model("dit-xl-2"), load_workload("imagenet-256"), H100, s, 8)
        return p.step_time_s, p.memory_gib_per_gpu

    (t_none, m_none), (t_full, m_full) = run("none"), run("full")
    t_mix, m_mix = run(["full"] * 14 + ["none"] * 14)
    assert t_none < t_mix < t_full
    assert m_full < m_mix < m_none
    assert (t_mix - t_none) == pytest.approx((t_full - t_none) / 2, rel=0.01)
    with pytest.raises(SpecError, match="ckpt has 3 entries; give one per block \\(28\\)"):
        run(["full"] * 3)


@pytest.mark.parametrize(
    ("pp", "ckpt"),
    [(1, ["full", "none", "selective", "full"]), (2, ["full", "none", "none", "full"]),
     (2, ["full", "none", "none", "none"]), (4, ["full", "full", "full", "none"])],
)  # fmt: skip
def test_block_options_reproduce_predict(pp: int, ckpt: list[str]) -> None:
    """The planner's program sums `block_options` over the slowest stage's blocks, counted per
    mode as `predict` reads the list (layout.ckpt_mix): step time and memory must equal
    `predict`'s (pipeline stages included)."""
    from parplan.cost.layout import ckpt_mix
    from parplan.cost.options import block_options

    s = StrategySpec(dp=8 // pp, pp=pp, sp=2, sp_method="ulysses", zero=1, ckpt="none",
                     micro_batch=1, global_batch=32)  # fmt: skip
    options, fixed_s, fixed_bytes = block_options(TINY, VIDEO, H100, s, 16)
    chosen = {o.ckpt: o for o in options}
    listed = s.model_copy(update={"ckpt": ckpt})
    stage = ckpt_mix(listed, TINY, 0, chosen["none"].count)
    time_s = fixed_s + sum(n * chosen[mode].time_s for mode, n in stage)
    memory = fixed_bytes + sum(n * chosen[mode].activation_bytes for mode, n in stage)
    p = predict(TINY, VIDEO, H100, listed, 16)
    assert time_s == pytest.approx(p.step_time_s, rel=1e-9)
    assert memory == pytest.approx(p.memory.total_bytes, rel=1e-9)


def test_block_options_cover_groups_absent_from_the_slowest_stage() -> None:
    """Open-Sora-Plan 1.3 has groups of 2 + 28 + 2 blocks: at pp=4 the slowest stage holds only
    the middle group, yet the ILP needs options for every group (zero cost for the others)."""
    from parplan.cost.options import block_options

    model = load_model("open-sora-plan-1.3")
    s = StrategySpec(dp=2, pp=4, sp=1, zero=1, micro_batch=1, global_batch=8)
    options, _, _ = block_options(model, load_workload("video-480p-81f"), H100, s, 8)
    assert {o.group_index for o in options} == set(range(len(model.blocks)))


def test_ring_longer_than_a_temporal_sequence_is_costed() -> None:
    """Open-Sora 1.2 at 51 frames has 15 latent frames: a ring of 16 over its temporal attention
    holds less than one key per rank; the cost must stay finite (it once divided by zero)."""
    s = StrategySpec(dp=1, sp=16, sp_method="ring", zero=3, ckpt="full", global_batch=1)
    p = predict(load_model("open-sora-1.2"), load_workload("video-256px-51f"), H100, s, 16)
    assert 0 < p.step_time_s < float("inf")
