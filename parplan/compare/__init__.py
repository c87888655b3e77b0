"""What-if comparisons over the cost model: Ulysses vs ring vs FastSeq vs USP vs DSP (`sp`).

Kept apart from validate/ (which checks the model against measurements) and from plan/ (which
searches): a comparison fixes everything but the SP method and degree and reports each.
May import: parplan.cost, parplan.cluster, parplan.model, parplan.specs, parplan.errors.
"""
