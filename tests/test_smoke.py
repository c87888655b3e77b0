"""parplan smoke: flags checked before spawning, and the pieces that need no second process.

The multi-process runs (numerics, bytes, failures) are in tests/test_smoke_distributed.py.
"""

from __future__ import annotations

import pytest

from parplan.cli import main
from parplan.errors import SpecError
from parplan.model.geometry import token_geometry
from parplan.smoke.config import SmokeConfig, build_strategy, to_specs, validate


def cfg(**strategy) -> SmokeConfig:
    extra = strategy.pop("extra", {})
    nproc = strategy.pop("nproc", None)
    s = build_strategy(**strategy)
    return SmokeConfig(nproc=nproc or s.world_size, strategy=s, **extra)


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ({"dp": 2, "nproc": 4}, r"dp\*tp\*sp\*pp = 2\*1\*1\*1 = 2, but --nproc is 4"),
        ({"sp": 4, "sp_method": "ulysses", "extra": {"heads": 2, "hidden": 64}},
         "ulysses degree 4 must divide heads=2"),
        ({"tp": 4, "extra": {"heads": 2, "hidden": 64}}, "tp=4 must divide heads=2"),
        ({"sp": 3, "sp_method": "ring", "extra": {"tokens": 256}}, "sp=3 must divide tokens=256"),
        ({"sp": 2, "sp_method": "ring", "extra": {"blocks": ("spatial", "temporal"), "frames": 4}},
         "ring runs full-attention blocks only"),
        ({"sp": 2, "sp_method": "dsp"}, "dsp needs spatial/temporal blocks"),
        ({"sp": 2, "sp_method": "ulysses", "tp": 2}, "runs TP or SP in one layout"),
        ({"dp": 2, "zero": 1}, "zero=1: smoke implements zero 0 and 2 only"),
    ],
)  # fmt: skip
def test_bad_layouts_are_spec_errors(strategy: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        validate(cfg(**strategy))


def test_strategy_flags_become_one_line_spec_error() -> None:
    with pytest.raises(SpecError, match="sp=4 needs sp_method"):
        build_strategy(sp=4)


def test_workload_reproduces_the_smoke_token_count() -> None:
    """The cost model must see exactly the tokens the smoke model runs (frames x per-frame)."""
    model, workload, strategy = to_specs(
        cfg(sp=2, sp_method="dsp", extra={"blocks": ("spatial", "temporal"), "frames": 4})
    )
    geometry = token_geometry(model, workload)
    assert (geometry.frames, geometry.tokens) == (4, 2048)  # the default size
    assert strategy.global_batch == 1


def test_smoke_param_count_matches_params_module() -> None:
    """parplan.model.params counts the smoke model exactly (the DP byte prediction depends on it)."""
    pytest.importorskip("torch")
    from parplan.model.params import param_count
    from parplan.smoke.model import build_model

    config = cfg(extra={"cross_attention": True, "blocks": ("full",) * 3})
    model_spec, _, _ = to_specs(config)
    built = sum(p.numel() for p in build_model(config).parameters())
    assert param_count(model_spec) == built


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nproc", "3", "--dp", "2"], "but --nproc is 3"),
        (["--nproc", "4", "--sp", "4", "--sp-method", "ulysses", "--heads", "6"],
         "heads=6 must divide hidden=256"),
        (["--nproc", "2", "--sp-method", "usp", "--ulysses", "2", "--ring", "2"],
         "= 4, but --nproc is 2"),
        (["--block-types", "diagonal"], "not in full, spatial, temporal"),
    ],
)  # fmt: skip
def test_cli_bad_flags_exit_2_before_spawning(argv, message, capsys, monkeypatch) -> None:
    import parplan.smoke.runner as runner

    monkeypatch.setattr(runner, "run_smoke", lambda cfg: pytest.fail("must not start ranks"))
    assert main(["smoke", *argv]) == 2
    assert message in capsys.readouterr().err


def test_byte_counter_reads_inputs_only(tmp_path) -> None:
    """One-rank gloo group: each c10d op counts the bytes of its input tensors (comm_ops)."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist

    from parplan.smoke.comm import comm_label
    from parplan.smoke.counting import ByteCounter

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rdv'}", rank=0, world_size=1)
    try:
        counter = ByteCounter()
        x = torch.ones(256)
        with counter, comm_label("t"):
            dist.all_reduce(x)
            dist.all_gather_into_tensor(torch.empty(256), x)
            dist.reduce_scatter_tensor(torch.empty(256), x)
            dist.all_to_all_single(torch.empty(256), x)
    finally:
        dist.destroy_process_group()
    table = {row["op"]: (row["count"], row["bytes"]) for row in counter.table()}
    assert table == {op: (1, 1024) for op in
                     ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")}  # fmt: skip
    assert {row["label"] for row in counter.table()} == {"t"}


def test_memory_check_refuses_what_does_not_fit_with_the_numbers() -> None:
    """parplan's memory model sizes the run before any rank starts (smoke/memory.py)."""
    from parplan.errors import SpecError
    from parplan.smoke.memory import RUNTIME_BYTES, check_memory
    from parplan.specs import GIB

    cfg = SmokeConfig(strategy=build_strategy(sp=4, sp_method="ulysses"))
    fits = check_memory(cfg, available=64 * GIB)
    assert fits.ranks == 4 and fits.runtime_bytes == RUNTIME_BYTES
    assert fits.reference_bytes > fits.layout_bytes > 0  # one process holds the whole batch
    with pytest.raises(SpecError, match=r"smoke would need ~.* GiB \(4 ranks x .* GiB: reference "
                                        r"run .*\), but 0.5 GiB is available"):  # fmt: skip
        check_memory(cfg, available=0.5 * GIB)


def test_run_smoke_refuses_a_huge_model_before_spawning(monkeypatch) -> None:
    from parplan.errors import SpecError
    from parplan.smoke import run_smoke

    monkeypatch.setattr("parplan.smoke.memory.available_bytes", lambda: 8 * 2**30)
    cfg = SmokeConfig(hidden=4096, heads=32, tokens=65536, strategy=build_strategy(dp=4))
    with pytest.raises(SpecError, match="smoke would need"):
        run_smoke(cfg)
