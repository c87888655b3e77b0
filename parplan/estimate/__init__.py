"""Month-long estimates: the seed's Sora chain, training GPUs for a deadline, and inference.

Owns: Factorial Funds' estimate reproduced from its inputs (seed), the FLOP-only and planned
training estimates with deadline sizing (training), the inference estimate (inference), and
multi-stage recipes (recipe: stages and deadline; recipe_stage: one stage; stage_layout: one
bucket's layout, fixed or planned; bucket_mix: sample weights -> steps and step time).
May import: parplan.plan, parplan.cost, parplan.model, parplan.specs, parplan.errors.
"""
