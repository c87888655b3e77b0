"""Month-long estimates: the seed's Sora chain, training GPUs for a deadline, and inference.

Owns: Factorial Funds' estimate reproduced from its inputs (seed), the FLOP-only and planned
training estimates with deadline sizing (training), and the inference estimate (inference).
May import: parplan.plan, parplan.cost, parplan.model, parplan.specs, parplan.errors.
"""
