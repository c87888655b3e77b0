"""The trainer's log lines: what runs, each step against the prediction, and the summary."""

from __future__ import annotations

import itertools

from parplan.train.setup import RunSetup


def _layout(setup: RunSetup) -> str:
    s = setup.shape.strategy
    usp = f" ({s.ulysses}x{s.ring})" if s.sp_method == "usp" else ""
    msp = " megatron-sp" if s.megatron_sp else ""
    return (f"dp={s.dp} tp={s.tp}{msp} sp={s.sp} {s.sp_method}{usp} zero={s.zero} "
            f"order={','.join(s.order)}")  # fmt: skip


def runs(items: tuple[str, ...] | list[str]) -> str:
    """`full,full,spatial` -> `full x2, spatial`."""
    groups = [(item, len(list(same))) for item, same in itertools.groupby(items)]
    return ", ".join(item if count == 1 else f"{item} x{count}" for item, count in groups)


def describe(setup: RunSetup) -> list[str]:
    cfg, pred = setup.shape, setup.prediction
    kind = "tiny model of the plan's block types" if setup.tiny else "the plan's model"
    modes = runs(setup.block_modes)
    return [
        f"parplan.train: {cfg.nproc} ranks, {_layout(setup)}",
        f"  model: {cfg.name} ({kind}): blocks {runs(cfg.blocks)}, hidden {cfg.hidden}, "
        f"heads {cfg.heads}, tokens {cfg.tokens} ({cfg.frames} frames), {cfg.precision}, "
        f"ckpt {modes}",
        f"  batch: micro {setup.ds_config['train_micro_batch_size_per_gpu']} x accumulation "
        f"{setup.accumulation} x dp {cfg.strategy.dp} = {setup.ds_config['train_batch_size']}",
        f"  prediction: {_num(pred.step_time_s, 's')} per step, "
        f"{_num(pred.memory_gib_per_gpu, 'GiB')} per GPU, from {pred.source}",
        *(f"  note: {note}" for note in setup.notes),
    ]


def _num(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.4g} {unit}"


def _ratio(measured: float, predicted: float | None) -> str:
    return "" if not predicted else f" ({measured / predicted:.2f}x predicted)"


def step_line(step: int, setup: RunSetup, seconds: float, loss: float) -> str:
    pred = setup.prediction.step_time_s
    warm = " (warm-up)" if step == 0 else ""
    return (f"step {step + 1}/{setup.shape.steps}: {seconds:.4f} s{warm}, predicted "
            f"{_num(pred, 's')}, loss {loss:.5f}")  # fmt: skip


def summary_lines(summary: dict) -> list[str]:
    step, pred = summary["step_time_s"], summary["step_time_predicted_s"]
    mem, mem_pred = summary["memory_gib_per_rank"], summary["memory_predicted_gib_per_gpu"]
    live = summary["memory_predicted_live_gib_per_gpu"]
    return [
        f"done: {len(summary['step_times_s'])} steps; median step {step:.4f} s vs predicted "
        f"{_num(pred, 's')}{_ratio(step, pred)}",
        f"memory: {mem:.3f} GiB per rank ({summary['memory_measured_as']}) vs predicted "
        f"{_num(live, 'GiB')} live{_ratio(mem, live)}, {_num(mem_pred, 'GiB')} with the "
        "allocator margin",
        f"loss: {summary['losses'][0]:.5f} -> {summary['losses'][-1]:.5f}",
    ]
