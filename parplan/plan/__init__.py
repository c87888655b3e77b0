"""The planner: search the layouts of a run and return the fastest that fit, or size a cluster.

Owns: the search space (space), the integer program over per-block checkpointing and SP
methods (ilp), the branch-and-bound search (search, bounds), deadline sizing (deadline), the
plan records (results) and the DeepSpeed / torchrun / plan.yaml output (emit).
May import: parplan.cost, parplan.cluster, parplan.model, parplan.specs, parplan.errors.
"""
