"""Fuzzing the command line (issue 16): hypothesis over spec files and flags for every command.

Every case runs in-process through `parplan.cli.main` and must hold to the CLI's contract:
- `main` returns: an exception escaping it would be a traceback for the user;
- the exit code is 0, 2, or 1 where `plan` finds nothing that fits;
- exit 2 (bad input) prints exactly one line on stderr, `error: ...`;
- exit 0 with `--json` prints one parseable JSON document on stdout;
- inputs built to be valid (the `good=True` cases) exit 0.

`smoke`, `calibrate` and `kernels measure` would start processes or time kernels on good input:
there the work is replaced by a stub that raises ReachedWork, so their flag and spec checks are
fuzzed and a good input counts as accepted. The cases are counted (CASES) and the count is
printed at the end of the session (conftest.py): 1,350 cases, about 20 s on one core
(PARPLAN_FUZZ_SCALE=10 runs ten times as many, freshly drawn: the default set is fixed). Bug
hunts found two specs that broke the planner (an `.inf` failure rate, 3e9 NICs per node), now
bad input (tests/test_specs.py).
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import os
import signal
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from parplan.cli import main
from parplan.specs import load_cluster

CASES: Counter[str] = Counter()  # "command exit=N" -> cases; read by conftest.py
# A case over 10 s is a finding (the whole file runs in about 20 s), and keeps CI time bounded.
FUZZ = settings(deadline=timedelta(seconds=10),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip


SCALE = int(os.environ.get("PARPLAN_FUZZ_SCALE", "1"))  # more cases for a bug hunt, e.g. 10


def fuzz(cases: int) -> settings:
    """The default run (CI) draws the same cases every time, so that a new find fails a bug
    hunt (PARPLAN_FUZZ_SCALE > 1, fresh random cases each run), not an unrelated change."""
    return settings(FUZZ, max_examples=cases * SCALE, derandomize=SCALE == 1)


class ReachedWork(Exception):
    """Raised by the stubs that stand in for real work (processes, kernel timing)."""


def _reached(*_args: Any, **_kwargs: Any) -> Any:
    raise ReachedWork


@pytest.fixture(scope="module", autouse=True)
def _no_real_work():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("parplan.smoke.run_smoke", _reached)
        mp.setattr("parplan.smoke.calibrate.calibrate", _reached)
        mp.setattr("parplan.commands.kernels_cmd.measure_kernels", _reached)
        yield


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


_names = itertools.count()


def write(workdir: Path, content: Any, suffix: str = ".yaml") -> str:
    """A new file per case: YAML of `content`, or `content` itself when it is text."""
    path = workdir / f"case{next(_names)}{suffix}"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return str(path)


class CaseTimeout(BaseException):
    """A case still running after CASE_LIMIT_S: a hang is a finding, not a stuck CI job."""


CASE_LIMIT_S = 60


def _too_slow(_signum: int, _frame: Any) -> None:
    raise CaseTimeout


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _too_slow)
    signal.alarm(CASE_LIMIT_S)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except ReachedWork:
                code = 0
    except CaseTimeout:
        raise AssertionError(f"parplan {' '.join(argv)}: still running after {CASE_LIMIT_S} s") from None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue()


def check(argv: list[str], *, good: bool = False, nothing_fits: bool = False) -> int:
    """Run one case against the contract (module docstring); returns the exit code."""
    code, out, err = run(argv)
    command = " ".join(a for a in argv[:2] if a in ("kernels", "show", "measure")) or argv[0]
    CASES[f"{command} exit={code}"] += 1
    case = f"parplan {' '.join(argv)}"
    allowed = {0, 2} | ({1} if nothing_fits else set())
    assert code in allowed, f"{case}: exit {code}\n{err}"
    assert "Traceback" not in err, f"{case}:\n{err}"
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{case}: stderr {err!r}"
    if good:
        assert code in ({0, 1} if nothing_fits else {0}), f"{case}: exit {code}: {err}"
    if code == 0 and "--json" in argv and "--help" not in argv and out.strip():
        json.loads(out, parse_constant=_no_nan)  # one document, no NaN or infinity in it
    return code


def _no_nan(name: str) -> float:
    raise AssertionError(f"JSON output holds {name}: a nonsense input was accepted")


# ------------------------------------------------------------------------ values and flags

BAD_NUMBERS = ["0", "-1", "-0.5", "nan", "inf", "-inf", "1e400", "abc", "", "1.5", "2,4", "1e30"]
JUNK = st.sampled_from(["--bogus", "x", "--", "-", "--json=1", "--gpus=", "--help"])
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


def number(*good: object) -> st.SearchStrategy[str]:
    """Half the time one of the `good` values, else anything (bad more often than not)."""
    good_values = st.sampled_from([str(g) for g in good])
    return st.one_of(good_values, good_values, good_values, st.sampled_from(BAD_NUMBERS),
                     st.integers(-3, 10**6).map(str), st.floats(allow_nan=True).map(str))  # fmt: skip


def choice(*good: str) -> st.SearchStrategy[str]:
    """Two times in three one of the `good` values, else any short text."""
    good_values = st.sampled_from(good)
    return st.one_of(good_values, good_values, TEXT)


FLAG = object()  # an on/off flag: no value

STACK = {
    "--attention": choice("flash2", "flash3", "cudnn", "unfused"),
    "--attention-dropout": FLAG, "--no-attention-dropout": FLAG,
    "--tp-comm-overlap": FLAG, "--no-tp-comm-overlap": FLAG,
    "--elementwise": choice("eager", "fused"),
    "--text-encoder-precision": choice("bf16", "fp16", "fp8", "fp32"),
    "--zero-impl": choice("megatron", "fsdp", "deepspeed"),
}  # fmt: skip
LAYOUT = {
    "--gpus": number(1, 2, 4, 8, 16, 64), "--dp": number(1, 2, 4), "--tp": number(1, 2),
    "--pp": number(1, 2), "--vpp": number(1, 2), "--sp": number(1, 2, 4),
    "--sp-method": choice("none", "ulysses", "ring", "fastseq", "usp", "dsp"),
    "--sp-methods": choice("spatial=dsp,temporal=ulysses", "full=ring", "mmdit=usp", "a=", "="),
    "--ulysses": number(1, 2), "--ring": number(1, 2),
    "--megatron-sp": FLAG, "--no-megatron-sp": FLAG, "--zero": number(0, 1, 2, 3),
    "--ckpt": choice("none", "selective", "full", "full,none", "none,full,full"),
    "--micro-batch": number(1, 2), "--global-batch": number(8, 64, 256),
    "--order": choice("tp,sp,dp,pp", "dp,tp,sp,pp", "tp,sp", "tp,tp,dp,pp"),
}  # fmt: skip
MODELS = choice("dit-s-2", "dit-xl-2", "latte-xl-2", "open-sora-1.2", "hunyuanvideo")
WORKLOADS = choice("imagenet-256", "video-256px-51f", "video-512px-64f", "video-720p-129f")
CLUSTERS = choice("cpu-local", "h100-dgx-ndr400", "gb200-nvl72", "a100-selene")


@st.composite
def flags(draw, table: dict[str, Any], *, max_flags: int = 5) -> list[str]:
    """Some of `table`'s flags with values (good or bad), and now and then a junk argument."""
    names = draw(st.lists(st.sampled_from(sorted(table)), max_size=max_flags, unique=True))
    argv: list[str] = []
    for name in names:
        argv += [name] if table[name] is FLAG else [name, draw(table[name])]
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(JUNK))
    return argv


# --------------------------------------------------------------------------- flags, per command


@fuzz(170)
@given(argv=flags({**LAYOUT, **STACK, "--model": MODELS, "--workload": WORKLOADS,
                   "--cluster": CLUSTERS}, max_flags=7))  # fmt: skip
def test_predict_flags(argv) -> None:
    check(["predict", "--json", *argv])


@fuzz(90)
@given(argv=flags({"--model": MODELS, "--workload": WORKLOADS, "--cluster": CLUSTERS,
                   "--workloads": choice("video-256px-51f,video-512px-64f", "imagenet-256,"),
                   "--sp-degrees": choice("2,4", "2", "4,8", "3", "0", "2,,4", "-2", "x"),
                   "--gpus": number(4, 8, 16), "--micro-batch": number(1, 2),
                   "--zero": number(0, 2, 3), "--ckpt": choice("none", "full"), **STACK}))  # fmt: skip
def test_compare_sp_flags(argv) -> None:
    check(["compare-sp", "--json", *argv])


PLAN = {
    "--gpus": number(1, 2, 4), "--top": number(1, 3), "--solver": choice("highs"),  # cbc: slow
    "--orders": choice("auto", "all", "standard"), "--global-batch": number(8, 64, 256),
    "--deadline-days": number(1, 30), "--train-samples": number("1e6", "1e8"),
    "--train-tokens": number("1e9"), "--no-failures": FLAG, "--async-checkpoint": FLAG,
    "--sync-checkpoint": FLAG, "--recipe": choice("nope", "open-sora-2.0"),
    "--model": choice("dit-s-2", "dit-b-2"), "--workload": choice("imagenet-256", "imagenet-512"),
    "--cluster": choice("cpu-local"), **STACK,
}  # fmt: skip


@fuzz(90)
@given(argv=flags(PLAN, max_flags=5), emit=st.sampled_from([None, "ok", "/nonexistent/x"]),
       plot=st.sampled_from([None, "ok", "/nonexistent/x.png"]))  # fmt: skip
def test_plan_flags(workdir, argv, emit, plot) -> None:
    """Small planner cases (a small DiT on this machine's 4-rank cluster)."""
    extra = [] if emit is None else ["--emit", str(workdir / f"emit{next(_names)}") if emit == "ok" else emit]
    extra += [] if plot is None else ["--plot", str(workdir / f"p{next(_names)}.png") if plot == "ok" else plot]
    base = ["plan", "--json"] + ([] if "--cluster" in argv else ["--cluster", "cpu-local"])
    check([*base, *argv, *extra], nothing_fits=True)


FF = {"--dit-train-flops": number("1e21"), "--param-multiplier": number(30),
      "--video-seconds": number(60), "--temporal-compression": number(8),
      "--sampling-steps": number(250), "--tiktok-ai-share": number(0.5),
      "--days-per-month": number(30), "--utilization": number(0.5, 1), "--fps": number(24),
      "--candidates-per-upload": number(4), "--dit-batch": number(256)}  # fmt: skip
ESTIMATE = {
    "--model": choice("dit-s-2", "dit-xl-2", "hunyuanvideo"),
    "--workload": choice("imagenet-256", "video-256px-51f"), "--cluster": choice("cpu-local"),
    "--train-samples": number("1e6", "1e9"), "--train-tokens": number("1e9"),
    "--deadline-days": number(1, 30), "--cost-per-gpu-hour": number(2),
    "--global-batch": number(64, 256), "--no-plan": FLAG, "--inference": FLAG,
    "--steps": number(50), "--cfg": FLAG, "--utilization": number(0.5),
    "--demand-minutes-per-day": number("1e6"), "--fps": number(24), "--no-failures": FLAG,
    "--recipe": choice("open-sora-2.0", "nope"), "--gpus": number(4), "--factorial-funds": FLAG,
    "--async-checkpoint": FLAG, "--plot": choice("/nonexistent/p.png"), **STACK,
}  # fmt: skip


@fuzz(130)
@given(mode=st.sampled_from(["ff", "model", "free"]), data=st.data())
def test_estimate_flags(mode, data) -> None:
    """The Factorial Funds chain with its inputs, the model modes, and any mix of flags."""
    if mode == "ff":
        argv = ["--factorial-funds", *data.draw(flags(FF))]
    elif mode == "model":
        argv = ["--model", "dit-s-2", "--workload", "imagenet-256", "--cluster", "cpu-local",
                *data.draw(flags({k: ESTIMATE[k] for k in ESTIMATE if k not in
                                  ("--model", "--workload", "--cluster", "--recipe")}))]  # fmt: skip
    else:
        argv = data.draw(flags(ESTIMATE, max_flags=6))
    check(["estimate", "--json", *argv])


@fuzz(70)
@given(which=st.sampled_from(["models", "model", "clusters", "cluster", "kernels-show"]),
       name=st.one_of(MODELS, CLUSTERS), argv=flags({"--workload": WORKLOADS,
                                                      "--gpus": number(4, 64)}))  # fmt: skip
def test_listing_commands(which, name, argv) -> None:
    if which in ("models", "clusters"):
        check([which, "--json"] + argv[:1])
    elif which == "kernels-show":
        check(["kernels", "show", "--json", "--cluster", name])
    else:
        check([which, name, "--json", *argv])


@fuzz(60)
@given(argv=flags({"--cluster": CLUSTERS, "--op": choice("all_reduce", "all_gather",
                                                         "reduce_scatter", "all_to_all"),
                   "--group-size": number(2, 4, 8), "--bytes": number("1e6", "1e9"),
                   "--stride": number(1, 2), "--concurrent-groups": number(1, 2)}, max_flags=6))  # fmt: skip
def test_collective_flags(argv) -> None:
    check(["collective", "--json", *argv])


@fuzz(90)
@given(argv=flags({"--nproc": number(2, 4), "--backend": choice("gloo", "nccl"),
                   "--dp": number(1, 2), "--tp": number(1, 2), "--sp": number(2, 4),
                   "--sp-method": choice("ulysses", "ring", "fastseq", "usp", "dsp", "none"),
                   "--ulysses": number(1, 2), "--ring": number(1, 2), "--zero": number(0, 2),
                   "--megatron-sp": FLAG, "--micro-batch": number(1, 2),
                   "--model": choice("tiny", "dit-s-2", "/nonexistent.yaml"),
                   "--blocks": number(2, 4), "--block-types": choice("full", "spatial,temporal"),
                   "--hidden": number(64, 256), "--heads": number(4), "--tokens": number(64, 2048),
                   "--frames": number(1, 4), "--cross-attention": FLAG, "--steps": number(2),
                   "--cluster": CLUSTERS, "--timeout-s": number(60)}, max_flags=6))  # fmt: skip
def test_smoke_flags(argv) -> None:
    check(["smoke", "--json", *argv])


@fuzz(60)
@given(argv=flags({"--nproc": number(2, 4), "--quick": FLAG,
                   "--out": choice("/nonexistent/c.yaml", "")}),
       measure=flags({"--model": MODELS, "--workload": WORKLOADS,
                      "--device": choice("auto", "cpu", "cuda"), "--dtype": choice("fp32", "bf16"),
                      "--tp": number(1, 2), "--ulysses": number(1, 2), "--ring": number(1, 2),
                      "--micro-batch": number(1), "--repeats": number(1, 5)}),
       which=st.sampled_from(["calibrate", "measure"]))  # fmt: skip
def test_calibrate_and_kernels_measure_flags(workdir, argv, measure, which) -> None:
    if which == "calibrate":
        check(["calibrate", "--json", *argv])
    else:
        check(["kernels", "measure", "--out", str(workdir / f"k{next(_names)}.yaml"), *measure])


# ------------------------------------------------------------------------------- spec files

VALUES = st.one_of(
    st.integers(-3, 10), st.integers(-(2**40), 2**40), st.floats(allow_nan=True), TEXT,
    st.booleans(), st.none(), st.lists(st.integers(-2, 9), max_size=3),
    st.dictionaries(TEXT, st.integers(0, 9), max_size=2),
)  # fmt: skip


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in nested dicts and lists."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    found = []
    for key, value in items:
        found.append((*prefix, key))
        found += _paths(value, (*prefix, key))
    return found


def _at(data: Any, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


@st.composite
def mutated(draw, base: dict) -> dict:
    """`base` with 1-3 changes: a key set to any value, deleted, or an unknown key added."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(data, path[:-1]), path[-1]
        action = draw(st.sampled_from(["set", "set", "delete", "add"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "add" and isinstance(parent[key], dict):
            parent[key][draw(TEXT.filter(bool))] = draw(VALUES)
        else:
            parent[key] = draw(VALUES)
    return data


def _preset(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


ROOT = Path(__file__).resolve().parents[1]
MODEL = _preset(ROOT / "parplan/presets/models/dit-s-2.yaml")
VIDEO_MODEL = _preset(ROOT / "parplan/presets/models/latte-xl-2.yaml")
WORKLOAD = _preset(ROOT / "parplan/presets/workloads/imagenet-256.yaml")
VIDEO_WORKLOAD = _preset(ROOT / "parplan/presets/workloads/video-256px-51f.yaml")
CLUSTER = load_cluster("cpu-local").model_dump(mode="json", exclude_none=True)
STRATEGY = {"dp": 2, "tp": 1, "sp": 2, "sp_method": "ulysses", "zero": 1, "ckpt": "selective",
            "micro_batch": 1, "global_batch": 64, "order": ["tp", "sp", "dp", "pp"],
            "stack": {"attention": "flash2", "elementwise": "eager"}}  # fmt: skip
CASE = {"id": "fuzz", "source": "fuzz", "model": "dit-s-2", "workload": WORKLOAD,
        "cluster": CLUSTER, "strategy": {"dp": 4}, "measured": {"step_time_s": 1.0},
        "tolerance": 0.25}  # fmt: skip
RECIPE = {"name": "t", "model": "dit-s-2", "stages": [
    {"name": "a", "gpus": 4, "samples": 1000, "global_batch": 64,
     "buckets": [{"name": "b", "height": 256, "width": 256, "weight": 1.0}]}]}  # fmt: skip
SPEC_RUNS = {
    "model": lambda f: ["predict", "--model", f, "--workload", "imagenet-256", "--cluster",
                        "cpu-local", "--json"],
    "model-show": lambda f: ["model", f, "--json"],
    "video-model": lambda f: ["predict", "--model", f, "--workload", "video-512px-64f", "--cluster",
                              "cpu-local", "--sp", "2", "--sp-method", "dsp", "--json"],
    "workload": lambda f: ["predict", "--model", "dit-s-2", "--workload", f, "--cluster",
                           "cpu-local", "--json"],
    "video-workload": lambda f: ["compare-sp", "--model", "latte-xl-2", "--workload", f,
                                 "--cluster", "cpu-local", "--sp-degrees", "2,4", "--json"],
    "cluster": lambda f: ["predict", "--model", "dit-s-2", "--workload", "imagenet-256",
                          "--cluster", f, "--gpus", "2", "--json"],
    "cluster-show": lambda f: ["cluster", f, "--json"],
    "strategy": lambda f: ["predict", "--model", "dit-s-2", "--workload", "imagenet-256",
                           "--cluster", "cpu-local", "--strategy", f, "--json"],
    "case": lambda f: ["validate", f, "--json"],
    "recipe": lambda f: ["estimate", "--recipe", f, "--cluster", "cpu-local", "--json"],
}  # fmt: skip
BASES = {"model": MODEL, "model-show": MODEL, "video-model": VIDEO_MODEL, "workload": WORKLOAD,
         "video-workload": VIDEO_WORKLOAD, "cluster": CLUSTER, "cluster-show": CLUSTER,
         "strategy": STRATEGY, "case": [CASE], "recipe": RECIPE}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(SPEC_RUNS))
def test_unchanged_specs_are_good(workdir, kind) -> None:
    """The bases the fuzzer mutates are valid: each runs with exit 0."""
    check(SPEC_RUNS[kind](write(workdir, BASES[kind])), good=True)


@fuzz(400)
@given(kind=st.sampled_from(sorted(SPEC_RUNS)), data=st.data())
def test_mutated_spec_files(workdir, kind, data) -> None:
    base = BASES[kind]
    content = [data.draw(mutated(CASE))] if kind == "case" else data.draw(mutated(base))
    check(SPEC_RUNS[kind](write(workdir, content)))


@fuzz(90)
@given(kind=st.sampled_from(sorted(SPEC_RUNS)),
       text=st.one_of(TEXT, st.sampled_from(["", "[", "{a: 1", "- 1\n- 2", "null", "3", "a: [b",
                                              "\t", "name: x\nname: y", "!!python/object {}"])))  # fmt: skip
def test_spec_files_that_are_not_yaml_mappings(workdir, kind, text) -> None:
    check(SPEC_RUNS[kind](write(workdir, text)))


# ---------------------------------------------------------------------- good inputs, built


@fuzz(90)
@given(gpus=st.sampled_from([1, 2, 4]), tp=st.sampled_from([1, 2]), sp=st.sampled_from([1, 2]),
       method=st.sampled_from(["ulysses", "ring", "fastseq"]), zero=st.integers(0, 3),
       ckpt=st.sampled_from(["none", "selective", "full"]), micro=st.sampled_from([1, 2]),
       stack=st.sampled_from([[], ["--attention", "flash3"], ["--elementwise", "fused"],
                              ["--zero-impl", "fsdp"], ["--tp-comm-overlap"]]))  # fmt: skip
def test_valid_layouts_exit_0(gpus, tp, sp, method, zero, ckpt, micro, stack) -> None:
    """DiT-S/2 (6 heads, 256 tokens) on this machine: every layout whose degrees divide the GPUs
    and whose Ulysses degree divides the heads per TP rank is predicted (exit 0, fit or not)."""
    assume(gpus % (tp * sp) == 0 and (method == "ring" or (6 // tp) % sp == 0))
    sp_flags = ["--sp", str(sp), "--sp-method", method] if sp > 1 else []
    argv = ["predict", "--model", "dit-s-2", "--workload", "imagenet-256", "--cluster",
            "cpu-local", "--gpus", str(gpus), "--tp", str(tp), *sp_flags, "--zero", str(zero),
            "--ckpt", ckpt, "--micro-batch", str(micro), "--json", *stack]  # fmt: skip
    check(argv, good=True)
