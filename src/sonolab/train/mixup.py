"""Mixup (Zhang et al., 2018, "mixup: Beyond Empirical Risk Minimization"): train on convex combinations of
pairs of examples and of their targets.

Written here because it is a few lines inside the training step and neither Lightning nor torchvision offers
it for arbitrary (log-mel) batches with class-weighted, label-smoothed cross-entropy. The mix weight and the
pairing come from torch's global generator, which the training module reseeds every epoch, so a resumed run
draws the same mixes as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class MixedBatch:
    """`features` = weight * original + (1 - weight) * original[partner]; the targets mix the same way."""

    features: torch.Tensor
    partner: torch.Tensor  # index of the example each one was mixed with
    weight: float  # share of the original example, in [0.5, 1]


def mix_batch(features: torch.Tensor, alpha: float) -> MixedBatch:
    """Mix each example with a random partner from the same batch, weight ~ Beta(alpha, alpha).

    The weight is folded into [0.5, 1] so the original example always dominates (its label stays the
    majority target, which is what the training accuracy is counted against).
    """
    if alpha <= 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha}")
    weight = float(torch.distributions.Beta(alpha, alpha).sample())
    weight = max(weight, 1.0 - weight)
    partner = torch.randperm(features.shape[0], device=features.device)
    return MixedBatch(features=weight * features + (1.0 - weight) * features[partner], partner=partner, weight=weight)
