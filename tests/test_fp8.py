"""fp8 training as Transformer Engine runs it: the linear layers' GEMMs on the fp8 peak;
attention, the activations between layers, communication and gradients stay 16-bit.

Independent numbers: the cluster spec's datasheet peaks (H100 SXM: 1979 fp8 vs 989.4 bf16
TFLOP/s) and the bf16 run of the same layout.
"""

from __future__ import annotations

import pytest

from parplan.cost.block import block_compute, block_shape, resolve
from parplan.cost.device import Device
from parplan.cost.step import predict
from parplan.specs import StrategySpec, load_cluster, load_model, load_workload

CLUSTER = load_cluster("h100-dgx-ndr400")
GPT = load_model({
    "name": "gpt-8b", "family": "gpt", "blocks": [{"type": "causal", "count": 4}],
    "hidden": 4096, "heads": 32, "kv_heads": 8, "mlp": "swiglu", "ffn_hidden": 14336,
    "vocab": 128256,
})  # fmt: skip
STRATEGY = StrategySpec(dp=2, tp=4, megatron_sp=True, micro_batch=1, global_batch=8)


def _workload(precision: str):
    return load_workload({"kind": "text", "seq_len": 8192, "global_batch": 8, "precision": precision})


def _parts(precision: str):
    inp = resolve(GPT, _workload(precision), CLUSTER, STRATEGY, 8)
    block = inp.cost.blocks[0]
    return block_compute(inp, block, block_shape(inp, block), Device.of(CLUSTER, precision))


def test_gemms_run_on_the_fp8_peak_and_attention_on_bf16s() -> None:
    bf16, fp8 = _parts("bf16"), _parts("fp8")
    peaks = CLUSTER.gpu.peak_tflops
    # big compute-bound GEMMs (8192 tokens x 4096 x 14336/4): time scales with the peak
    assert bf16.gemm_s / fp8.gemm_s == pytest.approx(peaks["fp8"] / peaks["bf16"], rel=0.02)
    assert fp8.attention_s == pytest.approx(bf16.attention_s, rel=1e-12)
    assert fp8.attention_bwd_s == pytest.approx(bf16.attention_bwd_s, rel=1e-12)
    assert fp8.elementwise_s == pytest.approx(bf16.elementwise_s, rel=1e-12)


def test_fp8_moves_and_stores_16_bit_tensors() -> None:
    bf16 = predict(GPT, _workload("bf16"), CLUSTER, STRATEGY, 8)
    fp8 = predict(GPT, _workload("fp8"), CLUSTER, STRATEGY, 8)
    assert fp8.breakdown.comm_s == pytest.approx(bf16.breakdown.comm_s, rel=1e-12)
    assert fp8.memory.activations_bytes == pytest.approx(bf16.memory.activations_bytes, rel=1e-12)
    assert fp8.step_time_s < bf16.step_time_s
