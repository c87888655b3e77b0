"""`parplan smoke`: run a parallel layout of a small real DiT on real processes and check it.

Numerics against one process, bytes at the c10d boundary against the cost model's collectives,
step time against its prediction; `calibrate` measures this machine for the cost model. Only
this package imports torch, and only lazily: importing `parplan.smoke` itself does not.
May import: parplan.cost, parplan.cluster, parplan.model, parplan.specs, parplan.errors.
"""

from __future__ import annotations

from parplan.smoke.config import SmokeConfig, build_strategy, validate
from parplan.smoke.runner import SmokeFailure, run_smoke

__all__ = ["SmokeConfig", "SmokeFailure", "build_strategy", "run_smoke", "validate"]
