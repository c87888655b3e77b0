"""The three kinds of failure parplan distinguishes (STYLE.md, "Errors, three kinds").

* `SpecError`: the user's input is wrong. The CLI prints one line and exits with code 2.
* `Infeasible`: a candidate layout does not fit (memory, divisibility, batch). The planner
  catches it, counts it and explains the binding constraint; `predict` reports it.
* `assert`: internal invariants only.
"""

from __future__ import annotations


class SpecError(ValueError):
    """Bad input: names the file or flag, the key path, the bad value and what is allowed."""


class Infeasible(Exception):
    """A layout that cannot run: `binding` names the constraint that fails."""

    def __init__(self, binding: str, detail: str, shortfall_gib: float | None = None) -> None:
        super().__init__(detail)
        self.binding = binding
        self.detail = detail
        self.shortfall_gib = shortfall_gib

    def to_json(self) -> dict:
        return {"binding": self.binding, "detail": self.detail, "shortfall_gib": self.shortfall_gib}
