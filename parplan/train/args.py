"""The trainer's flags and entry point.

launch.sh passes the plan's files and its degrees (`--tp --sp --sp-method --ulysses --ring --pp
--vpp`); the degrees must agree with plan.yaml, so a launcher and a plan that drifted apart
stop before any rank starts. Bad input is one line on stderr and exit 2 (SpecError);
`--check` validates and describes the run without importing torch's distributed machinery.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from parplan.errors import SpecError
from parplan.smoke.extra import require_smoke_extra

DEGREE_FLAGS = ("tp", "sp", "pp", "vpp", "ulysses", "ring")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line and exit 2, as parplan's own commands (argparse prints its usage too)."""
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} must be > 0")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m parplan.train",
        description="Train the DiT of a parplan plan (launch.sh runs this under torchrun).",
    )
    add = p.add_argument
    add("--parplan-strategy", type=Path, required=True, help="plan.yaml written by --emit.")
    add("--model", required=True, help="Model preset name or YAML file (launch.sh passes it).")
    add("--workload", required=True, help="Workload preset name or YAML file.")
    add("--cluster", required=True, help="Cluster name or YAML file (for the prediction).")
    add("--gpus", type=_positive(int), help="GPUs of the plan (default: its degrees' product).")
    add("--deepspeed_config", type=Path, help="Default: ds_config.json beside plan.yaml.")
    add("--deepspeed", action="store_true", help="Accepted for DeepSpeed's launcher convention.")
    add("--local_rank", type=int, help="Accepted from DeepSpeed's launcher; LOCAL_RANK wins.")
    add("--tiny", action="store_true", help="Scaled-down model of the plan's block types.")
    add("--steps", type=_positive(int), default=10, help="Optimizer steps (1st: warm-up).")
    add("--lr", type=_positive(float), default=1e-4, help="AdamW learning rate.")
    add("--seed", type=int, default=0)
    add("--backend", choices=("auto", "nccl", "gloo"), default="auto",
        help="auto: nccl when CUDA is available, else gloo.")  # fmt: skip
    add("--timeout-s", type=_positive(float), default=600.0, help="Collective timeout (s).")
    add("--report", type=Path, help="Rank 0 writes the run's JSON summary here.")
    add("--check", action="store_true", help="Validate and describe the run, then exit.")
    for name in DEGREE_FLAGS:
        add(f"--{name}", type=int, help=f"Must equal plan.yaml's {name}.")
    add("--sp-method", help="Must equal plan.yaml's sp_method.")
    add("--sp-methods", help="Must equal plan.yaml's sp_methods (type=method,...).")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    require_smoke_extra("python -m parplan.train")
    from parplan.train.report import describe
    from parplan.train.setup import load_run

    if args.report is not None and not args.report.parent.is_dir():  # written after training
        raise SpecError(f"--report {args.report}: folder {args.report.parent} does not exist")
    setup = load_run(args)
    if args.check:
        print("\n".join(describe(setup)))
        return 0
    from parplan.train.loop import run

    run(setup)
    return 0
