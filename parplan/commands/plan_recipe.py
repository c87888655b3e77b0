"""`parplan plan --recipe`: every stage's layouts (one library call, estimate_recipe), the stage
summary, and `--emit DIR` with one subfolder per stage."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from parplan.commands.checks import announce_files
from parplan.commands.common import StageProgress
from parplan.commands.recipe_tables import layouts_table, recipe_json
from parplan.errors import SpecError
from parplan.estimate.recipe import emit_recipe, estimate_recipe
from parplan.specs import load_cluster, load_recipe


def plan_recipe(*, recipe: str, cluster: str, gpus: int | None, deadline_days: float | None,
                emit_dir: Path | None, as_json: bool, with_failures: bool,
                async_checkpoint: bool | None) -> None:  # fmt: skip
    spec, cluster_spec = load_recipe(recipe), load_cluster(cluster)
    with StageProgress(quiet=as_json) as progress:
        result = estimate_recipe(spec, cluster=cluster_spec, gpus=gpus,
                                 deadline_days=deadline_days, with_failures=with_failures,
                                 async_checkpoint=async_checkpoint, progress=progress)  # fmt: skip
    if emit_dir is not None:
        try:
            written = emit_recipe(result, spec, cluster=cluster_spec, directory=emit_dir)
        except OSError as err:
            raise SpecError(f"--emit {emit_dir}: cannot write ({err.strerror})") from None
        announce_files(written, "the stage's launch files")
    if as_json:
        print(json.dumps(recipe_json(result), indent=2))
    else:
        Console().print(layouts_table(result))
