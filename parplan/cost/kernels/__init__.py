"""Kernel-level rates the cost model builds on: fused attention from a published table
(attention_table, attention.yaml) and GEMM tile and wave quantization (gemm). A block's
memory-bound bytes, eager or fused, come from its anatomy (parplan/model/traffic.py).
May import: parplan.specs, parplan.errors (never the rest of parplan.cost).
"""
