"""Names of the metrics the classification task logs and reports (torch-free: recipes validate without torch)."""

from __future__ import annotations

VALIDATION_METRICS: tuple[str, ...] = ("val_loss", "val_accuracy", "val_balanced_accuracy", "val_macro_f1")
HEADLINE_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "roc_auc_ovr", "log_loss")
