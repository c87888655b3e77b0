"""Kernel-level rates the cost model builds on: fused attention from a published table
(attention_table, attention.yaml), GEMM tile and wave quantization (gemm) and the memory-bound
bytes of a block's elementwise ops, eager or fused (elementwise).
May import: parplan.specs, parplan.errors (never the rest of parplan.cost).
"""
