"""`python -m parplan.train`: the reference trainer a plan's launch.sh runs.

It reads the emitted plan (plan.yaml, ds_config.json and the model / workload / cluster that
launch.sh names), builds the process groups in the plan's rank order, and trains a DiT of the
plan's shape (or, with --tiny, a scaled-down one) for --steps optimizer steps with DeepSpeed's
engine (ZeRO, bf16, gradient accumulation from ds_config.json) on the parallel layers of
`parplan.smoke`; every step's time and the run's memory are logged against the prediction.
Modules: args (flags), setup (what the run is; no torch), groups (DeepSpeed's view of the
process groups), engine (model + DeepSpeed), loop (the steps and their measurements), report
(log lines). Only groups, engine and loop import torch.
May import: parplan.smoke, parplan.cost, parplan.model, parplan.specs, parplan.errors.
"""
