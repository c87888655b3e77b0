"""The block program as an integer program (PuLP: HiGHS in-process or the CBC binary), and
`solve_blocks`, which solves a program by whatever is exact and fastest for its size
(docs/solver.md §1 and "Which solver").

The planner enumerates the global degrees, ZeRO stage, micro-batch, SP split, rank order and (in
deadline mode) cluster size itself. The block program holds the choices that interact: per block
group, how many blocks run under each activation-checkpoint mode (a knapsack under the GPU
memory cap), jointly with the SP method per block type, where a mix of methods pays the DSP
layout switches it causes (an item's `surcharge_s`). Small programs (every preset model's) are
listed exactly by `enumeration.py`; larger ones go to the ILP.

tests/test_solver.py checks both against brute force and each other; they must agree. An
infeasible program raises `Infeasible` naming the binding constraint and the shortfall.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import warnings
from collections.abc import Iterator
from typing import Literal

import pulp

from parplan.errors import Infeasible, SpecError
from parplan.plan.enumeration import Fronts, solve_by_enumeration
from parplan.plan.program import (
    BlockItem,
    BlockProgram,
    BlockSolution,
    check_feasible,
    fastest_solution,
    methods_by_type,
    solution_of,
)
from parplan.specs import GIB

SolverName = Literal["cbc", "highs"]
Route = Literal["auto", "enumeration", "ilp"]
# enumeration work (candidate sums) above which HiGHS is faster (~5-20 ms a program on the dev
# machine; benchmarks/bench_plan.py solvers, docs/solver.md "Which solver")
ENUMERATION_MAX_WORK = 20_000


def solve_blocks(
    program: BlockProgram,
    *,
    solver: SolverName = "highs",
    route: Route = "auto",
    fronts: Fronts | None = None,
) -> BlockSolution:
    """Optimal checkpoint counts per group and SP method per block type (docs/solver.md §1):
    the presolve when everything at its fastest fits, else enumeration for programs up to
    ENUMERATION_MAX_WORK candidate sums and the ILP (`solver`) beyond; `route` forces one.
    `fronts`: the enumeration's work on this program with fewer mixes cut off, to reuse."""
    check_feasible(program)
    fast = fastest_solution(program)
    if fast is not None:
        return fast
    if route == "ilp":
        return solve_by_ilp(program, solver=solver)
    if fronts is None or not fronts.serves(program):
        fronts = Fronts(program)
    if route == "enumeration" or fronts.work(program) <= ENUMERATION_MAX_WORK:
        return solve_by_enumeration(program, fronts)
    return solve_by_ilp(program, solver=solver)


def solve_by_ilp(program: BlockProgram, *, solver: SolverName = "highs") -> BlockSolution:
    """The block program as an integer program, solved by HiGHS or CBC."""
    prob, n_vars, x_vars = _build_block_ilp(program)
    elapsed_s = run_solver(prob, solver=solver)
    status = pulp.LpStatus[prob.status]
    if status == "Infeasible" and program.excluded_mixes:
        raise Infeasible("sp_method", "every SP method per block type is cut off")
    if status != "Optimal":  # memory was checked above; anything else is a solver failure
        raise Infeasible("solver", f"{solver} returned {status} for the block program")
    methods = {t: m for (t, m), var in x_vars.items() if round(var.value() or 0) == 1}
    picks = [(item, round(var.value() or 0)) for item, var in n_vars]
    return solution_of(program, picks, methods, solver=solver, solve_time_s=elapsed_s)


def _build_block_ilp(
    program: BlockProgram,
) -> tuple[pulp.LpProblem, list[tuple[BlockItem, pulp.LpVariable]], dict]:
    prob = pulp.LpProblem("blocks", pulp.LpMinimize)
    offered = methods_by_type(program)
    x = {
        (t, m): prob.add_variable(f"x_{k}", cat="Binary")
        for k, (t, m) in enumerate((t, m) for t, ms in offered.items() for m in ms)
    }
    n = [
        (
            item,
            prob.add_variable(f"n_{k}", 0, program.group_counts[item.group_index], cat="Integer"),
        )
        for k, item in enumerate(program.items)
        if (item.block_type, item.method) in x
    ]
    for t, ms in offered.items():
        prob += pulp.lpSum(x[t, m] for m in ms) == 1, f"one_method_{t}"
    for g, count in enumerate(program.group_counts):
        prob += pulp.lpSum(v for i, v in n if i.group_index == g) == count, f"count_{g}"
    for k, (item, var) in enumerate(n):
        count = program.group_counts[item.group_index]
        prob += var <= count * x[item.block_type, item.method], f"link_{k}"
        if program.per_group:  # n = count * b with b binary: the whole group or nothing
            prob += var == count * prob.add_variable(f"b_{k}", cat="Binary"), f"whole_{k}"
    memory = pulp.lpSum(i.activation_bytes / GIB * v for i, v in n)
    cap_gib = (program.capacity_bytes - program.fixed_memory_bytes) / GIB
    prob += memory <= cap_gib, "memory"
    for k, mix in enumerate(program.excluded_mixes):  # no-good cut: not this method per type
        prob += (
            pulp.lpSum(x[t, m] for t, m in mix.items() if (t, m) in x) <= len(mix) - 1,
            f"cut_{k}",
        )
    surcharge = _surcharge_terms(prob, program, x, n)
    prob += program.fixed_time_s + pulp.lpSum(i.time_s * v for i, v in n) + surcharge
    return prob, n, x


def _surcharge_terms(
    prob: pulp.LpProblem, program: BlockProgram, x: dict, n: list
) -> pulp.LpAffineExpression:
    """y >= n - count * (1 - x[t, m]), y >= 0 linearizes n * x[t, m] (the surcharged blocks):
    the objective pushes y down, so y = n when type t runs m and 0 otherwise."""
    terms = []
    for k, (item, var) in enumerate(n):
        if item.surcharge_if is None or item.surcharge_s <= 0:
            continue
        count = program.group_counts[item.group_index]
        y = prob.add_variable(f"y_{k}", 0, count)
        cond = x.get(item.surcharge_if)
        prob += y >= var - count * (1 - (cond if cond is not None else 0)), f"surcharge_{k}"
        terms.append(item.surcharge_s * y)
    return pulp.lpSum(terms)


# --------------------------------------------------------------------------- solvers


def make_solver(solver: SolverName) -> pulp.LpSolver:
    if solver == "cbc":  # the CBC binary bundled with PuLP 3 (deprecated name, still the one)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # CBC 2.10.3's preprocessing (Cgl) fixes variables of some knapsacks wrongly and
            # reports a worse optimum as optimal (tests/test_solver.py::test_cbc_preprocessing_
            # is_off holds the program hypothesis found); without it CBC solves them exactly
            return pulp.PULP_CBC_CMD(msg=False, options=["preprocess off"])
    if solver == "highs":
        highs = pulp.HiGHS(msg=False)
        if not highs.available():
            raise SpecError("--solver highs needs the highspy package (pip install highspy); "
                            "or use --solver cbc")  # fmt: skip
        return highs
    raise ValueError(f"solver={solver!r}; allowed: cbc, highs")


def run_solver(prob: pulp.LpProblem, *, solver: SolverName) -> float:
    """Solve in place; return wall seconds. HiGHS's banner is written to fd 1, so mute it."""
    start = time.perf_counter()
    with _quiet_fd1():
        prob.solve(make_solver(solver))
    return time.perf_counter() - start


@contextlib.contextmanager
def _quiet_fd1() -> Iterator[None]:
    """Silence C-level stdout (HiGHS prints 'Running HiGHS ...' even with msg=False)."""
    try:
        fd = os.dup(1)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(io.StringIO()):
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(fd, 1)
        os.close(fd)
