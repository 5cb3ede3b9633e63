"""Learning-rate schedules named in recipes (`training.scheduler`), shared by every Lightning module."""

from __future__ import annotations

from typing import Any

import torch

SCHEDULERS: tuple[str, ...] = ("none", "cosine", "plateau")


def optimiser_config(optimizer: torch.optim.Optimizer, scheduler: str, max_epochs: int, monitor: str, mode: str) -> Any:
    """What `configure_optimizers` returns: the optimiser alone (`none`), with cosine annealing over
    `max_epochs`, or with a halving on a plateau of `monitor` (patience 2 epochs)."""
    if scheduler == "cosine":
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, int(max_epochs)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}
    if scheduler == "plateau":
        schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=0.5, patience=2)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "monitor": monitor, "interval": "epoch"}}
    return optimizer
