"""The model's arithmetic: token geometry, parameters and FLOPs per block type, FLOP conventions.

Owns: how many tokens a workload makes (geometry), what a block holds and computes (params,
flops), and which FLOPs a published source counts (flop_conventions). The presets themselves
are data in parplan/presets/, loaded through parplan.specs (NAME|FILE, like cluster specs).
May import: parplan.specs, parplan.errors.
"""
