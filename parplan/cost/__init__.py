"""The cost model: step time, memory and bottleneck of one layout (`parplan.cost.step.predict`).

Owns: device rates (device), the kernel layer (kernels/: published attention table, GEMM
quantization; memory-bound bytes come from the block anatomy, parplan/model/traffic.py), attention kernels (attention), one block's compute and
collectives (block, strategies/), layout checks (layout), overlap of communication with
compute (overlap), memory (memory), the step assembly (step), the knapsack items the planner
solves over (options), the prediction records (records), the bottleneck report, and goodput
under failures and checkpoints (goodput).
May import: parplan.cluster, parplan.model, parplan.specs, parplan.errors.
"""
