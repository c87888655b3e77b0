"""Checks of the cost model against published measurements (`parplan validate`).

Owns: running validation cases with their own stack and reporting step-time errors honestly
(cases).
May import: parplan.cost, parplan.model, parplan.specs, parplan.errors.
"""
