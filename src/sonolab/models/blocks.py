"""Attention blocks: squeeze-and-excitation (SE), CBAM (channel + spatial), and the feature gate.

Written by hand because neither torchvision nor timm exposes them as standalone, configurable modules
for arbitrary channel counts in a stable public API; each is a few lines of the published design.
"""

from __future__ import annotations

import torch
from torch import nn


class SEBlock(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): global-average-pool, MLP with `reduction`, sigmoid, rescale channels."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.excite = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.excite(x)


class ChannelAttention(nn.Module):
    """CBAM channel attention: a shared MLP over average- and max-pooled descriptors."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        average = self.mlp(torch.mean(x, dim=(2, 3), keepdim=True))
        maximum = self.mlp(torch.amax(x, dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(average + maximum)


class SpatialAttention(nn.Module):
    """CBAM spatial attention: a conv over the channel-wise mean and max maps."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size=kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        descriptor = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(descriptor))


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al. 2018): channel attention, then spatial attention."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel_size: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(spatial_kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


class FeatureGate(nn.Module):
    """The users' feature gate: an MLP with a sigmoid that weights each entry of a pooled feature vector.

    `hidden_fraction` sets the MLP width as a fraction of `features` (the users used 1/4: 512 -> 128 -> 512).
    """

    def __init__(self, features: int, hidden_fraction: float = 0.25) -> None:
        super().__init__()
        hidden = max(1, int(round(features * hidden_fraction)))
        self.gate = nn.Sequential(
            nn.Linear(features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, features),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


ATTENTION_KINDS: tuple[str, ...] = ("none", "se", "cbam")


def attention_block(kind: str, channels: int, reduction: int = 16) -> nn.Module:
    """The attention block named `kind` for `channels` channels (`none` gives an identity)."""
    if kind == "none":
        return nn.Identity()
    if kind == "se":
        return SEBlock(channels, reduction)
    if kind == "cbam":
        return CBAM(channels, reduction)
    from sonolab.errors import ConfigError

    raise ConfigError(f"model.attention must be one of {', '.join(ATTENTION_KINDS)}, got {kind!r}")


class BandMeanSubtraction(nn.Module):
    """Per clip and per mel band, subtract the band's mean over time (cepstral mean normalisation in the dB
    domain). It removes a fixed spectral colouring (microphone, room, a speaker's overall tilt) and the level,
    so it is a choice for tasks where neither carries the label (spoken digits), never for emotion or
    loudness-related labels. Padding frames (at the floor) count towards the mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean(dim=-1, keepdim=True)


INPUT_NORMALISATIONS: tuple[str, ...] = ("batch", "band_mean")


def input_normalisation(kind: str) -> nn.Module:
    """The first layer of the CNNs. `batch`: a batch norm over the input (keeps level differences between
    clips; the default); `band_mean`: BandMeanSubtraction, then the batch norm."""
    if kind == "batch":
        return nn.BatchNorm2d(1)
    if kind == "band_mean":
        return nn.Sequential(BandMeanSubtraction(), nn.BatchNorm2d(1))
    from sonolab.errors import ConfigError

    raise ConfigError(f"model.input_norm must be one of {', '.join(INPUT_NORMALISATIONS)}, got {kind!r}")
