"""The model's arithmetic: token geometry, each block type as its operators, and what derives.

Owns: how many tokens a workload makes (geometry), what each block type is made of (blocks: one
builder per type; pointwise: the memory-bound ops as each family's code runs them; anatomy: the
records and the parameters/FLOPs/attention shapes derived from them; gemms: per-GPU GEMM shapes;
traffic: memory-bound bytes and kernels, eager or fused, and saved activations), the extras
switches (options), the embedders and totals (params, flops), and which FLOPs a published source
counts (flop_conventions). The presets themselves are data in parplan/presets/, loaded through
parplan.specs (NAME|FILE, like cluster specs).
May import: parplan.specs, parplan.errors.
"""
