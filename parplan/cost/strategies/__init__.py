"""The collectives each parallel strategy issues, per block or per step (one module each).

Each function returns `CollectiveCall` records (parplan.cluster.comm_ops) from a block's shape;
timing them on the graph is parplan.cluster.comm_model's job, overlapping them cost.overlap's.
"""
