"""Convolutional networks for 1-channel log-mels of any size: a baseline CNN and a VGG-style CNN.

Both start with an input normalisation (`input_norm`: a batch norm over the input by default, since dB values
have an arbitrary offset that depends on the reference; or `band_mean`, see `blocks.BandMeanSubtraction`) and
end with global pooling, so any (n_mels, frames) works.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sonolab.errors import ConfigError
from sonolab.models.blocks import ATTENTION_KINDS, FeatureGate, attention_block, input_normalisation

GATE_PLACEMENTS: tuple[str, ...] = ("pooled", "hidden")


class BaselineCNN(nn.Module):
    """Small baseline: `len(channels)` conv-BN-ReLU-maxpool blocks, global average pool, dropout, linear."""

    def __init__(self, num_classes: int | None, channels: Sequence[int] = (16, 32, 64), dropout: float = 0.3,
                 input_norm: str = "batch") -> None:
        super().__init__()
        layers: list[nn.Module] = [input_normalisation(input_norm)]
        previous = 1
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]
            previous = width
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self._embedding_dim = previous
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(previous, num_classes)) if num_classes else nn.Flatten()

    @property
    def embedding_dim(self) -> int:
        return self._embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class VGGStyleCNN(nn.Module):
    """VGG-style CNN: blocks of 1 or 2 (conv-BN-ReLU) then an optional SE/CBAM block and 2x2 max pooling.

    `channels` defaults to 64-128-256-512. `feature_gate` adds the users' MLP+sigmoid gate on the pooled
    vector (`gate_placement='pooled'`, before the classifier) or on the classifier's hidden layer
    (`'hidden'`). With `num_classes=None` the forward pass returns the pooled embedding
    (`embedding_dim` wide), so the network can serve as an audio tower in a bimodal model.
    """

    def __init__(
        self,
        num_classes: int | None,
        channels: Sequence[int] = (64, 128, 256, 512),
        convs_per_block: int = 1,
        attention: str = "none",
        attention_reduction: int = 16,
        feature_gate: bool = False,
        gate_hidden_fraction: float = 0.25,
        gate_placement: str = "pooled",
        classifier_hidden: int = 256,
        dropout: float = 0.5,
        pooling: str = "avg",
        input_norm: str = "batch",
    ) -> None:
        super().__init__()
        if convs_per_block not in (1, 2):
            raise ConfigError(f"model.convs_per_block must be 1 or 2, got {convs_per_block}")
        if attention not in ATTENTION_KINDS:
            raise ConfigError(f"model.attention must be one of {', '.join(ATTENTION_KINDS)}, got {attention!r}")
        if gate_placement not in GATE_PLACEMENTS:
            raise ConfigError(f"model.gate_placement must be one of {', '.join(GATE_PLACEMENTS)}, got {gate_placement!r}")
        if pooling not in ("avg", "max"):
            raise ConfigError(f"model.pooling must be avg or max, got {pooling!r}")
        layers: list[nn.Module] = [input_normalisation(input_norm)]
        previous = 1
        for index, width in enumerate(channels):
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                previous = width
            layers.append(attention_block(attention, width, attention_reduction))
            if index < len(channels) - 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1) if pooling == "avg" else nn.AdaptiveMaxPool2d(1)
        self._embedding_dim = previous
        self.gate = FeatureGate(previous, gate_hidden_fraction) if feature_gate and gate_placement == "pooled" else nn.Identity()
        self.num_classes = num_classes
        if num_classes:
            hidden_gate: nn.Module = (
                FeatureGate(classifier_hidden, gate_hidden_fraction) if feature_gate and gate_placement == "hidden" else nn.Identity()
            )
            self.classifier = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(previous, classifier_hidden),
                nn.ReLU(inplace=True),
                hidden_gate,
                nn.Dropout(dropout),
                nn.Linear(classifier_hidden, num_classes),
            )
        else:
            self.classifier = nn.Identity()

    @property
    def embedding_dim(self) -> int:
        """Width of the pooled embedding (the last block's channels)."""
        return self._embedding_dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled (and gated) embedding `(batch, embedding_dim)`."""
        return self.gate(torch.flatten(self.pool(self.features(x)), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))
