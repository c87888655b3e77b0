"""The PNG plots of the commands (matplotlib, Agg backend): SP comparison, deadline curves."""

from __future__ import annotations

from pathlib import Path

from parplan.compare.sp import SpRow
from parplan.estimate.formulas import SECONDS_PER_DAY
from parplan.estimate.training import TrainingEstimate
from parplan.plan.results import PlanResult


def _pyplot():  # noqa: ANN202 (matplotlib.pyplot, imported on use: the Agg backend, no display)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:  # noqa: ANN001
    fig.savefig(path, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)


def plot_gpus_vs_deadline(e: TrainingEstimate, path: Path, *, title: str) -> None:
    """GPUs needed vs deadline (deadline/10 to 3x deadline): real FLOPs at 100% of peak, the
    seed's linear frame scaling, and real FLOPs at the planned MFU (held at the MFU of the plan
    for this deadline: other deadlines give other sizes and slightly different MFUs)."""
    plt = _pyplot()
    deadline_days = e.deadline_s / SECONDS_PER_DAY
    days = [deadline_days * 10 ** (k / 50 - 1) for k in range(75)]
    curves = {"real FLOPs, 100% of peak": e.train_flops,
              "seed's linear frame scaling, 100%": e.linear_scaling_train_flops}  # fmt: skip
    if e.planned_mfu is not None:
        curves[f"real FLOPs at planned MFU {e.planned_mfu:.0%}"] = e.train_flops / e.planned_mfu
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, flops in curves.items():
        ax.loglog(days, [flops / (e.peak_flop_per_s * d * SECONDS_PER_DAY) for d in days],
                  label=label)  # fmt: skip
    ax.axvline(deadline_days, linestyle=":", color="gray", label=f"deadline: {deadline_days:g} days")
    top_gpus = max(curves.values()) / (e.peak_flop_per_s * days[0] * SECONDS_PER_DAY)
    if e.sizing is not None and e.sizing.cluster_gpus < 10 * top_gpus:
        ax.axhline(e.sizing.cluster_gpus, linestyle="--", color="gray",
                   label=f"cluster size: {e.sizing.cluster_gpus:,} GPUs")  # fmt: skip
    ax.set_xlabel("deadline (days)")
    ax.set_ylabel("GPUs")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


# One colour per SP method, the same in every plot and for every workload (matplotlib's
# tab10 order); workloads differ by line style.
METHOD_COLOURS = {"ulysses": "tab:blue", "ring": "tab:orange", "fastseq": "tab:green",
                  "usp": "tab:red", "dsp": "tab:purple"}  # fmt: skip
WORKLOAD_STYLES = ("-", "--", ":", "-.")


def plot_sp(rows: list[SpRow], path: Path, *, title: str) -> None:
    """Step time and exposed SP communication vs SP degree, one line per method (and workload).
    USP is drawn at its fastest Ulysses x ring split per degree; each point names its split."""
    plt = _pyplot()
    fig, (ax_step, ax_comm) = plt.subplots(1, 2, figsize=(11, 4.4))
    workloads = list(dict.fromkeys(r.workload for r in rows))
    for (workload, method), series in _series(rows).items():
        xs = [r.sp for r in series]
        style = dict(marker="o", color=METHOD_COLOURS.get(method),
                     linestyle=WORKLOAD_STYLES[workloads.index(workload) % len(WORKLOAD_STYLES)])  # fmt: skip
        name = "usp (best ulysses x ring split)" if method == "usp" else method
        name += f" ({workload})" if len(workloads) > 1 else ""
        ax_step.plot(xs, [r.step_time_s for r in series], label=name, **style)
        ax_comm.plot(xs, [r.sp_exposed_comm_s for r in series], label=name, **style)
        if method == "usp":
            for r in series:
                ax_step.annotate(f"{r.ulysses}x{r.ring}", (r.sp, r.step_time_s), fontsize=7,
                                 textcoords="offset points", xytext=(3, 4),
                                 color=METHOD_COLOURS["usp"])  # fmt: skip
    for ax, ylabel in ((ax_step, "step time (s)"), (ax_comm, "exposed SP communication (s)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("SP degree")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ax_step.set_yscale("log")  # methods differ by orders of magnitude at high degrees
    ax_comm.set_yscale("symlog", linthresh=0.01)  # exposed time can be exactly 0
    ax_comm.set_ylim(bottom=0)
    ax_step.legend(fontsize=7)
    ax_step.set_title("step time")
    ax_comm.set_title("exposed SP communication per step")
    fig.suptitle(title)
    _save(fig, path)


def _series(rows: list[SpRow]) -> dict[tuple[str, str], list[SpRow]]:
    """Rows that fit, by (workload, method); USP keeps its fastest split at each degree."""
    series: dict[tuple[str, str], list[SpRow]] = {}
    for r in rows:
        if r.step_time_s is None or not r.fits:
            continue
        if r.method == "usp" and r.ulysses != _best_usp_split(rows, r):
            continue
        series.setdefault((r.workload, r.method), []).append(r)
    return series


def _best_usp_split(rows: list[SpRow], row: SpRow) -> int:
    """Plot one USP line: the fastest Ulysses×ring split at each degree."""
    candidates = [r for r in rows if r.method == "usp" and (r.workload, r.sp) == (row.workload, row.sp)
                  and r.step_time_s is not None and r.fits]  # fmt: skip
    return min(candidates, key=lambda r: r.step_time_s).ulysses


def plot_curve(result: PlanResult, path: Path, *, title: str) -> None:
    """Days to train vs GPUs in deadline mode: the sizes planned (exact days), the lower bound
    from the best MFU any layout reaches at every size, the deadline and the answer."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    bound = [p for p in result.curve if p.days_at_least is not None]
    if bound:
        mfu = f" (MFU <= {result.mfu_bound:.1%})" if result.mfu_bound else ""
        ax.plot([p.gpus for p in bound], [p.days_at_least for p in bound], linestyle="--",
                color="gray", label=f"lower bound{mfu}")  # fmt: skip
    exact = [p for p in result.curve if p.days is not None]
    ax.plot([p.gpus for p in exact], [p.days for p in exact], marker="o", linestyle="none",
            color="C0", label="best plan (planned sizes)")  # fmt: skip
    if result.deadline_days is not None:
        ax.axhline(result.deadline_days, linestyle=":", color="C3",
                   label=f"deadline: {result.deadline_days:g} days")  # fmt: skip
    if result.gpus and result.time_to_train_days is not None:
        ax.axvline(result.gpus, linestyle=":", color="C2",
                   label=f"chosen: {result.gpus:,} GPUs, {result.time_to_train_days:.3f} days")  # fmt: skip
    if exact or bound:  # log axes need data; with none, the plot says so
        ax.set(xscale="log", yscale="log")
    else:
        ax.text(0.5, 0.5, "no plan fits at any cluster size", ha="center", transform=ax.transAxes)
    ax.set(xlabel="GPUs", ylabel="days to train")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)
