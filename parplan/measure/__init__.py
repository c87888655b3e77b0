"""`parplan kernels measure`: time the model's own kernels on the user's device (CUDA GPU, or the
CPU for tests) and write a kernel table that a cluster spec can point to (`kernels:`).

Shapes (shapes.py) need no torch; timing (timing.py, eager_block.py, run.py) imports torch lazily,
so importing `parplan.measure` does not. May import: parplan.cost, parplan.model, parplan.specs,
parplan.errors.
"""

from __future__ import annotations
