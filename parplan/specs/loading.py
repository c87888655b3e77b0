"""Loading specs: a preset name or a YAML path in, a typed spec or one `SpecError` line out
(`file: key.path=value problem`), listing the allowed keys for a typo."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from parplan.errors import SpecError
from parplan.specs.base import (
    Spec,
)
from parplan.specs.case import ValidationCase
from parplan.specs.cluster import ClusterSpec
from parplan.specs.model import ModelSpec, WorkloadSpec
from parplan.specs.recipe import RecipeSpec
from parplan.specs.strategy import StrategySpec

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # parplan/
PRESET_DIR = PACKAGE_DIR / "presets"
BUNDLED_CLUSTER_DIR = PACKAGE_DIR.parent / "cluster_specs"


def user_dir() -> Path:
    """The user's own specs, where `parplan calibrate` writes: $PARPLAN_HOME, else
    ~/.config/parplan. Read at each call, so tests (and users) can point it elsewhere."""
    home = os.environ.get("PARPLAN_HOME")
    return Path(home) if home else Path.home() / ".config" / "parplan"


def cluster_dirs() -> tuple[Path, ...]:
    """Where cluster names resolve, first match wins: the user's calibrations, the bundled
    specs, ./cluster_specs."""
    return (user_dir(), BUNDLED_CLUSTER_DIR, Path.cwd() / "cluster_specs")


S = TypeVar("S", bound=Spec)


def _walk_model(cls: type[BaseModel] | None, loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that sits at `loc` inside `cls` (for listing allowed keys)."""
    for part in loc:
        if cls is None or isinstance(part, int):
            continue
        field = cls.model_fields.get(str(part))
        if field is None:
            return cls
        cls = _first_model(field.annotation)
    return cls


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def format_validation_error(where: str, cls: type[BaseModel], err: ValidationError) -> str:
    """One line naming every problem: `where: key.path=value problem; other.key=... problem`.

    Unknown keys come first (a typo often causes the other errors). Pydantic reports a value
    that fits no branch of a union once per branch (`ckpt: 'none'|'full'` or a list of them):
    those become one problem, from the branch that got deepest into the value."""
    problems = [_problem(cls, e) for e in _one_per_union(err.errors())]
    problems = list(dict.fromkeys(problems))  # the same text from two branches: once
    return f"{where}: " + "; ".join(problems)


def _clean_loc(loc: tuple) -> tuple:
    """The key path without pydantic's union-branch tags (`literal['none','full']`, `list[...]`)."""
    return tuple(p for p in loc if not (isinstance(p, str) and "[" in p))


def _one_per_union(errors: list[dict]) -> list[dict]:
    """Errors grouped by the field they are about (the path up to the first union tag); within a
    group only the deepest errors are kept; unknown keys sort first."""
    groups: dict[tuple, list[dict]] = {}
    for e in errors:
        loc = tuple(e.get("loc", ()))
        tagged = next((i for i, p in enumerate(loc) if isinstance(p, str) and "[" in p), len(loc))
        groups.setdefault(loc[:tagged], []).append(e)
    kept = []
    for group in groups.values():
        depth = max(len(_clean_loc(tuple(e.get("loc", ())))) for e in group)
        deepest = [e for e in group if len(_clean_loc(tuple(e.get("loc", ())))) == depth]
        kept.append(_merge_branches(deepest))
    return sorted(kept, key=lambda e: e["type"] != "extra_forbidden")


def _merge_branches(errors: list[dict]) -> dict:
    """Several union branches rejecting the same value: `must be A, or B`."""
    if len(errors) == 1:
        return errors[0]
    texts = [_problem_text(e) if e["type"] != "list_type" else "must be a list of them"
             for e in errors]  # fmt: skip
    rest = [t.removeprefix("must be ") for t in texts[1:]]
    return {**errors[0], "msg": ", or ".join([texts[0], *rest]), "merged": True}


def _problem_text(e: dict) -> str:
    return e["msg"].removeprefix("Value error, ").replace("Input should be", "must be")


def _problem(cls: type[BaseModel], e: dict) -> str:
    loc = _clean_loc(tuple(e.get("loc", ())))
    path = _printable(".".join(str(p) for p in loc)) or "<top level>"
    if e["type"] == "extra_forbidden":
        parent = _walk_model(cls, loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else "see SPEC_FORMAT.md"
        return f"unknown key '{path}' (allowed here: {allowed})"
    if e["type"] == "missing":
        return f"missing required key '{path}'"
    text = e["msg"] if e.get("merged") else _problem_text(e)
    return f"{path}={_short(e.get('input'))} {text}" if loc else text


def _printable(text: str) -> str:
    """A key as typed, with control characters escaped (an error stays one line)."""
    return text if text.isprintable() else repr(text)[1:-1]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_spec(cls: type[S], data: Any, where: str) -> S:
    """Validate `data` as `cls`, turning pydantic's report into one SpecError line."""
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return cls.model_validate(dict(data))
    except ValidationError as err:
        raise SpecError(format_validation_error(where, cls, err)) from None


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise SpecError(f"{where}: YAML syntax error: {problem}") from None


def _preset_names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml")) if directory.is_dir() else []


def _resolve(source: str | Path, kind: str, dirs: tuple[Path, ...]) -> Path:
    if not str(source).strip():
        raise SpecError(f"--{kind} {str(source)!r}: empty; give a preset name or a YAML file")
    path = Path(source)
    if _is_path(source):
        if not path.exists():
            raise SpecError(f"{path}: file not found")
        if path.is_dir():
            raise SpecError(f"--{kind} {path}: a folder; give a YAML file")
        return path
    for directory in dirs:
        candidate = directory / f"{source}.yaml"
        if candidate.exists():
            return candidate
    names = sorted({n for d in dirs for n in _preset_names(d)})
    raise SpecError(
        f"--{kind} {source!r}: no such preset or file; presets: {', '.join(names) or 'none'}"
    )


def load_spec(
    cls: type[S], source: str | Path | Mapping | S, kind: str, dirs: tuple[Path, ...]
) -> S:
    if isinstance(source, cls):
        return source
    if isinstance(source, Mapping):
        return parse_spec(cls, source, f"{kind} spec")
    path = _resolve(source, kind, dirs)
    return parse_spec(cls, read_yaml(path), str(path))


def load_model(source: str | Path | Mapping | ModelSpec) -> ModelSpec:
    return load_spec(ModelSpec, source, "model", (PRESET_DIR / "models",))


def load_workload(source: str | Path | Mapping | WorkloadSpec) -> WorkloadSpec:
    return load_spec(WorkloadSpec, source, "workload", (PRESET_DIR / "workloads",))


def load_cluster(source: str | Path | Mapping | ClusterSpec) -> ClusterSpec:
    """A cluster spec; its `kernels:` path is resolved against the spec file's folder (a spec
    given as a mapping: against the working directory) and must exist."""
    cluster = load_spec(ClusterSpec, source, "cluster", cluster_dirs())
    if cluster.kernels is None or isinstance(source, ClusterSpec):
        return cluster
    base = Path.cwd() if isinstance(source, Mapping) else _resolve(source, "cluster", cluster_dirs()).parent
    kernels = (base / cluster.kernels).resolve()
    if not kernels.is_file():
        raise SpecError(f"cluster '{cluster.name}': kernels={cluster.kernels} not found (looked "
                        f"for {kernels}); write it with `parplan kernels measure --out FILE`")  # fmt: skip
    return cluster.model_copy(update={"kernels": str(kernels)})


def user_calibration(source: str | Path) -> Path | None:
    """The user's file a cluster name resolves to (e.g. `parplan calibrate`'s cpu-local), or
    None: commands say when a calibration stands in for the bundled spec."""
    if isinstance(source, str) and not _is_path(source):
        candidate = user_dir() / f"{source}.yaml"
        return candidate if candidate.exists() else None
    return None


def spec_file(source: str, kind: str) -> Path | None:
    """The file a spec source names, None for a name that resolves wherever parplan runs (a
    bundled preset or a user calibration): the same name reads the same spec elsewhere.
    A name found only in ./cluster_specs is that file (it means something only here)."""
    if _is_path(source):
        return Path(source)
    if kind != "cluster" or user_calibration(source) is not None:
        return None
    try:
        path = _resolve(source, kind, cluster_dirs())
    except SpecError:  # not a name here either: it stays a name
        return None
    return None if path.parent.resolve() == BUNDLED_CLUSTER_DIR.resolve() else path


def _is_path(source: str | Path) -> bool:
    path = Path(source)
    return path.suffix in (".yaml", ".yml") or path.exists()


def load_strategy(source: str | Path | Mapping | StrategySpec) -> StrategySpec:
    return load_spec(StrategySpec, source, "strategy", ())


def load_recipe(source: str | Path | Mapping | RecipeSpec) -> RecipeSpec:
    return load_spec(RecipeSpec, source, "recipe", (PRESET_DIR / "recipes",))


def recipe_presets() -> list[str]:
    return _preset_names(PRESET_DIR / "recipes")


def load_validation_cases(path: str | Path) -> list[ValidationCase]:
    data = read_yaml(Path(path))
    if not isinstance(data, list):
        raise SpecError(f"{path}: expected a YAML list of validation cases")
    return [parse_spec(ValidationCase, case, f"{path}[{i}]") for i, case in enumerate(data)]


def model_presets() -> list[str]:
    return _preset_names(PRESET_DIR / "models")


def workload_presets() -> list[str]:
    return _preset_names(PRESET_DIR / "workloads")


def cluster_presets() -> list[str]:
    return sorted({n for d in cluster_dirs() for n in _preset_names(d)})
