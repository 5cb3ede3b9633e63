"""Bimodal (audio + lyrics) training on MERGE: data, Lightning module, task runner and prediction."""

from __future__ import annotations

from sonolab.train.bimodal.task import BIMODAL_DEFAULTS, predict_bimodal, register, run_bimodal

register()

__all__ = ["BIMODAL_DEFAULTS", "predict_bimodal", "register", "run_bimodal"]
