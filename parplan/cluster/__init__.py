"""The cluster: its topology graph, where each parallel group's ranks sit, and collective times.

Owns: the networkx graph of GPUs, switches and NICs (topology), the rank groups of a strategy's
order (placement), the record of one collective call (comm_ops), and the time of collectives
routed over the graph with every concurrent group loading the links (collectives, link_loads,
comm_model).
May import: parplan.specs, parplan.errors.
"""
