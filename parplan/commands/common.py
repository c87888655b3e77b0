"""What the subcommands share: default specs, common options, the planner's progress bar.

One set of defaults for every command that costs a layout (predict, compare-sp, plan, kernels):
the bundled HunyuanVideo at 720p x 129 frames on 64 H100s (capped at the cluster's size). Layout
knobs left out (ZeRO stage, checkpointing, micro-batch, degrees, stack) take the strategy spec's
defaults, i.e. what a strategy file without that key means (parplan/specs/strategy.py: plain
PyTorch DDP, zero 0, no checkpointing), so a flag left out and a key left out agree.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from parplan.specs import ClusterSpec, StrategySpec

DEFAULT_MODEL = "hunyuanvideo"
DEFAULT_WORKLOAD = "video-720p-129f"
DEFAULT_CLUSTER = "h100-dgx-ndr400"
DEFAULT_GPUS = 64
DEFAULT_GPUS_TEXT = f"{DEFAULT_GPUS}, at most the cluster's"
MODEL_HELP = "Model preset (`parplan models`) or YAML file."
WORKLOAD_HELP = "Workload preset or YAML file."
CLUSTER_HELP = "Cluster name (`parplan clusters`) or YAML file."
MODEL_OPT = typer.Option(DEFAULT_MODEL, "--model", help=MODEL_HELP)
WORKLOAD_OPT = typer.Option(DEFAULT_WORKLOAD, "--workload", help=WORKLOAD_HELP)
CLUSTER_OPT = typer.Option(DEFAULT_CLUSTER, "--cluster", help=CLUSTER_HELP)
JSON_OPT = typer.Option(False, "--json", help="Print one JSON object for scripts.")


def default_gpus(cluster: ClusterSpec) -> int:
    return min(DEFAULT_GPUS, cluster.num_gpus)


def show_spec_defaults(cmd) -> None:  # noqa: ANN001 (a click command or group)
    """--help shows the strategy spec's default for every option named after a StrategySpec
    field that is None when left out (the spec's default, or a --strategy file's value, then
    applies): `--zero [default: (0)]`, in predict, compare-sp and any command to come."""
    fields = StrategySpec.model_fields
    for param in cmd.params:
        if (param.param_type_name == "option" and param.default is None
                and (param.name or "") in fields and not isinstance(param.show_default, str)):  # fmt: skip
            param.show_default = spec_default(param.name)
    for sub in getattr(cmd, "commands", {}).values():
        show_spec_defaults(sub)


# What a StrategySpec field left at None means
NONE_MEANS = {"global_batch": "the workload's", "sp_methods": "--sp-method for every block type"}


def spec_default(field: str) -> str:
    """The strategy spec's default of `field`, as `--help` shows it (`[default: 0]`)."""
    value = StrategySpec.model_fields[field].get_default(call_default_factory=True)
    if value is None:
        return NONE_MEANS.get(field, "none")
    if isinstance(value, bool):
        return "on" if value else "off"
    return ",".join(value) if isinstance(value, list) else str(value)


def note_calibration(cluster: str) -> None:
    """Say on stderr when a cluster name reads the user's calibration (`parplan calibrate`)
    rather than the bundled spec of that name."""
    from parplan.specs import user_calibration

    path = user_calibration(cluster)
    if path is not None:
        print(f"note: --cluster {cluster} reads your calibration {path}", file=sys.stderr)


class StageProgress:
    """A rich bar fed by `progress(description, done, total)` (a recipe's buckets across its
    stages, or the deadline sizing's planner calls); silent under --json."""

    def __init__(self, *, quiet: bool) -> None:
        # on stderr: stdout stays the result (pipes, --json)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True,
                            disable=quiet)  # fmt: skip
        self.task = None

    def __enter__(self):
        self.bar.__enter__()
        self.task = self.bar.add_task("planning", total=None)
        return self.update

    def update(self, description: str, done: int, total: int | None) -> None:
        self.bar.update(self.task, description=description, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


class PlannerProgress(StageProgress):
    """The bar fed by one planner call's (done, total) callback, labelled "planning"."""

    def __enter__(self):
        super().__enter__()
        return lambda done, total: self.update("planning", done, total)
