"""How many calls a ZeRO implementation issues (stack.zero_impl), ZeRO 2/3 with pipeline
parallelism, and ZeRO-3's latency wall at 1,000+ GPUs.

Independent numbers: the ring latency is NCCL's (src/graph/tuning.cc: (nsteps - nInterSteps) *
intraLat + nInterSteps * interLat, nsteps = p - 1 for all-gather) computed by hand from the
cluster spec; the bandwidth term by hand from the NIC rate and NCCL's achieved fraction; bucket
counts from the frameworks' default sizes; the block's weight tensors from the DiT paper."""

from __future__ import annotations

import math

import pytest

from parplan.cluster.collectives import NCCL_NIC_EFFICIENCY, estimate_collective
from parplan.cluster.comm_model import CommModel
from parplan.cluster.topology import Topology
from parplan.cost.block import block_calls, block_shape, resolve
from parplan.cost.step import predict
from parplan.cost.step_calls import step_collectives
from parplan.cost.strategies.zero_impl import (
    dp_buckets,
    pipeline_zero_stages,
    zero3_gathers_per_block,
)
from parplan.errors import SpecError
from parplan.model.blocks import block_anatomy
from parplan.plan.emit import emit
from parplan.plan.space import core_candidates
from parplan.specs import StackSpec, StrategySpec, load_cluster, load_model, load_workload

H100 = load_cluster("h100-dgx-ndr400")


def _strategy(**fields) -> StrategySpec:
    impl = fields.pop("zero_impl", "megatron")
    return StrategySpec(**fields, stack=StackSpec(zero_impl=impl))


# --------------------------------------------------------------------- ZeRO 2/3 with PP


@pytest.mark.parametrize("impl", ["fsdp", "megatron"])
@pytest.mark.parametrize("zero", [2, 3])
def test_zero23_with_pp_costs_zero1(impl, zero):
    """torch.distributed.pipelining keeps FSDP's parameters and gradients whole through the
    step (reduce once after the last micro-batch; torchtitan: no reshard after forward under
    PP), so the step time and memory are ZeRO-1's exactly."""
    model, work = load_model("dit-xl-2"), load_workload("imagenet-256")
    base = dict(dp=16, pp=4, micro_batch=2, global_batch=256, ckpt="selective", zero_impl=impl)
    sharded = predict(model, work, H100, _strategy(**base, zero=zero))
    zero1 = predict(model, work, H100, _strategy(**base, zero=1))
    assert sharded.memory.total_bytes == pytest.approx(zero1.memory.total_bytes, rel=1e-12)
    if impl == "megatron":  # same buckets; FSDP's are per block (next test), DDP's 25 MiB
        assert sharded.step_time_s == pytest.approx(zero1.step_time_s, rel=1e-12)


def test_fsdp_with_pp_gathers_and_reduces_once_per_step_per_block():
    model, work = load_model("dit-xl-2"), load_workload("imagenet-256")
    s = _strategy(dp=16, pp=4, zero=3, micro_batch=2, global_batch=256, zero_impl="fsdp")
    calls = [c for c, _ in step_collectives(model, work, s) if c.dim == "dp_sp"]
    blocks_on_stage = math.ceil(28 / 4)
    assert not [c for c in calls if c.label.startswith("zero3.")]  # nothing per micro-batch
    assert {c.label: c.count for c in calls} == {
        "dp.grad_reduce_scatter": blocks_on_stage,
        "dp.param_all_gather": blocks_on_stage,
    }


def test_planner_offers_fsdp_zero3_with_pp():
    """torchtitan's FSDP + PP is in the search space only where it differs from ZeRO-1 and
    can run (fsdp); brute-force equality is tests/test_planner.py's."""
    model = load_model("dit-xl-2")
    zeros = {impl: {c.zero for c in core_candidates(model=model, num_gpus=16, global_batch=256,
                                                      gpus_per_node=8,
                                                      zero_with_pp=pipeline_zero_stages(impl))
                    if c.pp > 1}
             for impl in ("fsdp", "megatron", "deepspeed")}  # fmt: skip
    assert zeros == {"fsdp": {0, 1, 3}, "megatron": {0, 1}, "deepspeed": {0, 1}}


def test_deepspeed_cannot_run_zero3_with_pp():
    model, work = load_model("dit-xl-2"), load_workload("imagenet-256")
    s = _strategy(dp=16, pp=4, zero=3, global_batch=256, zero_impl="deepspeed")
    with pytest.raises(SpecError, match="zero_impl=deepspeed: DeepSpeed's PipelineEngine runs "
                                        "only ZeRO-0/1"):  # fmt: skip
        predict(model, work, H100, s)


def test_emit_refuses_zero3_with_pp(tmp_path):
    """--emit writes a DeepSpeed config; DeepSpeed's PipelineEngine asserts ZeRO < 2."""
    s = _strategy(dp=16, pp=4, zero=3, global_batch=256, zero_impl="fsdp")
    with pytest.raises(SpecError, match=r"DeepSpeed's PipelineEngine runs only ZeRO-0/1 \(this "
                                        r"plan: zero=3, pp=4\)"):  # fmt: skip
        emit(directory=tmp_path / "out", strategy=s, model=load_model("dit-xl-2"),
             workload=load_workload("imagenet-256"), cluster=H100, num_gpus=64)  # fmt: skip
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------- call granularity


@pytest.mark.parametrize(
    ("impl", "zero", "group", "expected_bucket"),
    [
        ("megatron", 1, 16, 4e7),  # max(4e7, 1e6 * 16)
        ("megatron", 1, 256, 2.56e8),  # max(4e7, 1e6 * 256)
        ("deepspeed", 1, 256, 5e8),  # reduce_bucket_size
        ("fsdp", 0, 256, 25 * 2**20 / 2),  # DDP bucket_cap_mb=25 of 2-byte gradients
    ],
)
def test_dp_bucket_counts(impl, zero, group, expected_bucket):
    params = 3.3e9
    buckets = dp_buckets(impl=impl, zero=zero, params=params, element_bytes=2, group_size=group,
                         blocks=12)  # fmt: skip
    assert buckets == math.ceil(params / expected_bucket)


def test_fsdp_reduces_per_block():
    assert dp_buckets(impl="fsdp", zero=3, params=3.3e9, element_bytes=2, group_size=64,
                      blocks=12) == 12  # fmt: skip


def _weights(preset: str, block_type: str = "full") -> list[int]:
    block = block_anatomy(load_model(preset), block_type)
    return [lin.in_features * lin.out_features for lin in block.linears()]


def test_deepspeed_gathers_per_submodule_above_the_persistence_threshold():
    """DiT-XL/2's block: QKV, attention out, FC1, FC2 and the adaLN Linear(d, 6d) (Peebles &
    Xie 2023 §3.2); a 1e5-element parameter stays whole (stage3_param_persistence_threshold)."""
    widths = _weights("dit-xl-2")
    assert len(widths) == 5
    assert zero3_gathers_per_block(impl="deepspeed", weight_elements=widths) == 5
    assert zero3_gathers_per_block(impl="deepspeed", weight_elements=[*widths, 99_999]) == 5
    assert zero3_gathers_per_block(impl="fsdp", weight_elements=widths) == 1


@pytest.mark.parametrize(
    ("preset", "gathers"),
    [
        # PixArt-alpha PixArtBlock: attn.qkv, attn.proj, cross_attn.q_linear, kv_linear, proj,
        # mlp.fc1, fc2; its adaLN-single scale_shift_table (6 x 1152) is below the threshold
        ("pixart-alpha", 7),
        # FLUX SingleStreamBlock: modulation.lin, linear1, linear2
        ("flux-dev", 3),
        # HunyuanVideo MMSingleStreamBlock: modulation.linear, linear1, linear2
        ("hunyuanvideo", 3),
    ],
)
def test_deepspeed_gathers_follow_the_block_anatomy(preset, gathers):
    """ZeRO-3 under DeepSpeed gathers each of the anatomy's linears (cost/block.py)."""
    assert zero3_gathers_per_block(impl="deepspeed", weight_elements=_weights(preset)) == gathers


# ------------------------------------------------------------------------ latency wall


def _nccl_ring_latency_s(*, p: int, nodes: int) -> float:
    """src/graph/tuning.cc: (nsteps - nInterSteps) * intraLat + nInterSteps * interLat."""
    return (p - 1 - (nodes - 1)) * 2.0e-6 + (nodes - 1) * 5.0e-6  # h100-dgx-ndr400 latencies


@pytest.mark.parametrize("p", [1024, 2048, 4096])
def test_ring_all_gather_latency_grows_with_ring_length(p):
    topo = Topology.from_cluster(H100, p)
    est = estimate_collective(topo, op="all_gather", groups=[list(range(p))], buffer_bytes=1.0)
    assert est.latency_s == pytest.approx(_nccl_ring_latency_s(p=p, nodes=p // 8), rel=1e-9)


def test_zero3_per_submodule_gathers_hit_the_latency_wall_at_1024_gpus():
    """DiT-XL/2 under ZeRO-3 over 1,024 H100s: one ring all-gather costs ~2.4 ms of latency
    (1,023 steps) against ~0.15 ms of bandwidth for a whole block (56.6 MB), so DeepSpeed's
    five per-submodule gathers take ~5x FSDP's one per-block gather, latency-bound."""
    model, work = load_model("dit-xl-2"), load_workload("imagenet-256")
    times = {}
    for impl in ("fsdp", "deepspeed"):
        s = _strategy(dp=1024, zero=3, global_batch=1024, zero_impl=impl)
        inp = resolve(model, work, H100, s)
        shape = block_shape(inp, inp.cost.blocks[0])
        fwd, _ = block_calls(inp, shape, 0)
        (gather,) = [c for c in fwd if c.label == "zero3.param_gather"]
        times[impl] = CommModel(H100, s, 1024).time(gather).time_s
        block_bytes = gather.buffer_bytes * gather.count
    alpha = _nccl_ring_latency_s(p=1024, nodes=128)
    # rail ring: each GPU's NIC carries (p-1)/p of the buffer / 8 GPUs per node
    beta = block_bytes * 1023 / 1024 / 8 / (400e9 / 8 * NCCL_NIC_EFFICIENCY)
    assert times["fsdp"] == pytest.approx(alpha + beta, rel=0.01)
    assert times["deepspeed"] == pytest.approx(5 * alpha + beta, rel=0.01)
    assert 5 * alpha / times["deepspeed"] > 0.95  # latency-bound
    assert times["deepspeed"] / times["fsdp"] > 0.9 * 5  # by the counted factor


def test_deepspeed_zero3_step_is_latency_bound_at_1024_gpus():
    """The whole step: Wan2.1-14B on 256 px images, ZeRO-3 over 1,024 GPUs. Per-submodule
    gathers (8 per block) leave the step several times longer than per-block gathers."""
    model, work = load_model("wan2.1-14b"), load_workload("imagenet-256")
    steps = {}
    for impl in ("fsdp", "deepspeed"):
        s = _strategy(dp=1024, zero=3, ckpt="full", global_batch=1024, zero_impl=impl)
        steps[impl] = predict(model, work, H100, s)
    assert steps["deepspeed"].bottleneck.collective == "all_gather (zero3.param_gather)"
    assert steps["deepspeed"].step_time_s > 3 * steps["fsdp"].step_time_s


def test_deepspeed_small_model_note():
    """Below stage3_max_live_parameters per rank DeepSpeed's prefetcher coalesces; parplan's
    per-submodule count is then an upper bound, and the prediction says so."""
    model, work = load_model("dit-xl-2"), load_workload("imagenet-256")
    notes = {impl: predict(model, work, H100, _strategy(dp=8, zero=3, global_batch=256,
                                                        zero_impl=impl)).notes
             for impl in ("deepspeed", "fsdp")}  # fmt: skip
    assert any("stage3_max_live_parameters" in n for n in notes["deepspeed"])
    assert not any("stage3_max_live_parameters" in n for n in notes["fsdp"])
