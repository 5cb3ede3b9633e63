"""The pretrained aisfx embedding network (Ma & Lerch, ISMIR 2022), reimplemented in PyTorch.

Architecture (aisfx 0.1.2, `aisfx.models.cnn2d.EmbeddingNet('max', 3, 1, 64)`, itself the DCASE
cross-task "Cnn_9layers" baseline): four blocks of two 3x3 convolutions (no bias) + BatchNorm + ReLU with
64, 128, 256, 512 channels, 2x2 max pooling after blocks 1-3 (none after block 4), then the mean over
frequency and the maximum over time: a 512-d embedding per 100-frame block. Weights ship with sonolab as
safetensors (`sonolab/assets/aisfx/`, converted by `scripts/convert_aisfx.py`; CC BY 4.0).

Public API:
- `embed_blocks(waveform_mono, sample_rate_hz)`: `(n_blocks, 512)` float32 for one clip;
- `embed_clips(waveforms, sample_rate_hz)`: the same for many clips, blocks of all clips batched together;
- `embed_input_blocks(blocks)`: embeddings of `(n_blocks, 96, 100)` aisfx input blocks (e.g. from a feature
  cache built with `AISFX_FEATURE_SETTINGS`, cut by `sonolab.audio.aisfx_input.aisfx_blocks`);
- `pool_mean_max(embeddings)`: one `(1024,)` clip vector (mean and max over blocks);
- `load_aisfx_network()`: the pretrained `AisfxEmbeddingNet` in eval mode, cached per process;
- `AisfxClassifier`: the backbone plus a new linear head for fine-tuning (registry name `aisfx_cnn9`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from sonolab.audio.aisfx_input import (
    DEFAULT_DROP_PARTIAL_BLOCK,
    DEFAULT_HOP_FRAMES,
    DEFAULT_RESAMPLER,
    N_MELS,
    aisfx_blocks,
    aisfx_input,
)
from sonolab.errors import ConfigError

ASSET_DIR = Path(__file__).resolve().parents[1] / "assets" / "aisfx"
WEIGHTS_PATH = ASSET_DIR / "aisfx_embedding.safetensors"
EMBEDDING_SIZE = 512
NUM_BLOCKS = 4
MIN_FRAMES = 8  # three 2x poolings leave at least one time step
_POOLS = ((2, 2), (2, 2), (2, 2), None)  # (time, frequency) max pooling after each block; none after the last


class ConvBlock(nn.Module):
    """conv3x3 - BN - ReLU - conv3x3 - BN - ReLU (parameter names as in the aisfx checkpoint)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        for conv in (self.conv1, self.conv2):  # the wheel's init_layer, for random initialisation
            nn.init.kaiming_uniform_(conv.weight, nonlinearity="leaky_relu")
        # Frozen: BatchNorm uses its stored statistics whatever the module's training flag says (trainers
        # such as Lightning save and restore every submodule's flag, so eval() on the block is not enough).
        self.frozen = False

    def _norm(self, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps)
        return bn(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self._norm(self.bn1, self.conv1(x)))
        return F.relu(self._norm(self.bn2, self.conv2(x)))


class AisfxEmbeddingNet(nn.Module):
    """`(batch, 1, 96, frames)` or `(batch, 96, frames)` aisfx input -> `(batch, 512)` embedding."""

    def __init__(self) -> None:
        super().__init__()
        channels = (1, 64, 128, 256, 512)
        for index in range(NUM_BLOCKS):
            self.add_module(f"conv_block{index + 1}", ConvBlock(channels[index], channels[index + 1]))

    def blocks(self) -> list[ConvBlock]:
        return [getattr(self, f"conv_block{index + 1}") for index in range(NUM_BLOCKS)]

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, 512, time', frequency')` maps after block 4 (time first, as the wheel computes them)."""
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != N_MELS:
            raise ConfigError(
                f"the aisfx network takes (batch, 1, 96, frames) aisfx input, got shape {tuple(x.shape)} "
                "(fix: use the aisfx feature settings: sonolab.audio.features.AISFX_FEATURE_SETTINGS)"
            )
        if x.shape[3] < MIN_FRAMES:
            raise ConfigError(f"the aisfx network needs at least {MIN_FRAMES} frames (3 poolings by 2), got {x.shape[3]} (fix: raise target_frames)")
        # The wheel convolves (batch, 1, time, frequency): transpose, so the pretrained kernels and the
        # floor of odd sizes in pooling see exactly what they saw in training.
        x = x.transpose(2, 3)
        for block, pool in zip(self.blocks(), _POOLS):
            x = block(x)
            if pool is not None:
                x = F.max_pool2d(x, kernel_size=pool)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.feature_maps(x)
        return maps.mean(dim=3).amax(dim=2)  # mean over frequency, then maximum over time


def load_pretrained_weights(network: AisfxEmbeddingNet, path: str | Path = WEIGHTS_PATH) -> AisfxEmbeddingNet:
    """Load the shipped safetensors weights (no pickle) into `network`, strictly (every tensor, no extra)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: aisfx weights missing (fix: reinstall sonolab, or run scripts/convert_aisfx.py)")
    state = load_file(str(path))
    # BatchNorm's num_batches_tracked counters are not shipped: keep the module's own.
    for name, buffer in network.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state.setdefault(name, buffer)
    network.load_state_dict(state, strict=True)
    return network


_NETWORK: AisfxEmbeddingNet | None = None
_NETWORK_LOCK = threading.Lock()


def load_aisfx_network() -> AisfxEmbeddingNet:
    """The pretrained embedding network in eval mode, loaded once per process (do not train it in place)."""
    global _NETWORK
    with _NETWORK_LOCK:
        if _NETWORK is None:
            network = load_pretrained_weights(AisfxEmbeddingNet()).eval()
            for parameter in network.parameters():
                parameter.requires_grad_(False)
            _NETWORK = network
    return _NETWORK


def _batches(blocks: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, blocks.shape[0], batch_size):
        yield blocks[start : start + batch_size]


def embed_input_blocks(blocks: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Embeddings `(n_blocks, 512)` float32 of `(n_blocks, 96, 100)` aisfx input blocks."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    network = load_aisfx_network()
    outputs = []
    with torch.inference_mode():
        for batch in _batches(np.asarray(blocks, dtype=np.float32), batch_size):
            outputs.append(network(torch.from_numpy(np.ascontiguousarray(batch)).unsqueeze(1)).numpy())
    if not outputs:
        return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
    return np.concatenate(outputs).astype(np.float32, copy=False)


def embed_blocks(
    waveform_mono: np.ndarray,
    sample_rate_hz: int,
    batch_size: int = 32,
    *,
    hop_frames: int = DEFAULT_HOP_FRAMES,
    drop_partial_block: bool = DEFAULT_DROP_PARTIAL_BLOCK,
    resampler: str = DEFAULT_RESAMPLER,
) -> np.ndarray:
    """aisfx embeddings `(n_blocks, 512)` float32 of one clip, one row per 100-frame block (~2.3 s).

    `waveform_mono` is `(samples,)` (a `(channels, samples)` array is averaged to mono first) at any
    `sample_rate_hz`; it is resampled to 44.1 kHz and peak-normalised. Blocks start every `hop_frames`
    frames (default 50, about 1.16 s, the wheel's default); a last block running past the end is dropped
    (`drop_partial_block`, the wheel's default) unless it is the only one: a clip shorter than one block
    gives one zero-padded block. `resampler`: `soxr_hq` (default) or `kaiser_best` (the wheel's, needs resampy).
    """
    blocks = aisfx_blocks(aisfx_input(waveform_mono, sample_rate_hz, resampler), hop_frames, drop_partial_block)
    return embed_input_blocks(blocks, batch_size)


def embed_clips(
    waveforms: Sequence[np.ndarray],
    sample_rate_hz: int | Sequence[int],
    batch_size: int = 32,
    *,
    hop_frames: int = DEFAULT_HOP_FRAMES,
    drop_partial_block: bool = DEFAULT_DROP_PARTIAL_BLOCK,
    resampler: str = DEFAULT_RESAMPLER,
) -> list[np.ndarray]:
    """`embed_blocks` for many clips: the blocks of all clips go through the network in shared batches."""
    rates = [int(sample_rate_hz)] * len(waveforms) if np.isscalar(sample_rate_hz) else [int(rate) for rate in sample_rate_hz]  # type: ignore[arg-type]
    if len(rates) != len(waveforms):
        raise ConfigError(f"{len(waveforms)} waveforms but {len(rates)} sample rates")
    per_clip = [aisfx_blocks(aisfx_input(waveform, rate, resampler), hop_frames, drop_partial_block) for waveform, rate in zip(waveforms, rates)]
    if not per_clip:
        return []
    embeddings = embed_input_blocks(np.concatenate(per_clip), batch_size)
    bounds = np.cumsum([0] + [blocks.shape[0] for blocks in per_clip])
    return [embeddings[start:stop].copy() for start, stop in zip(bounds[:-1], bounds[1:])]


def pool_mean_max(block_embeddings: np.ndarray) -> np.ndarray:
    """One clip vector `(1024,)`: the mean over blocks, then the maximum over blocks, of `(n_blocks, 512)`."""
    blocks = np.asarray(block_embeddings, dtype=np.float32)
    if blocks.ndim != 2 or blocks.shape[0] == 0:
        raise ConfigError(f"pooling needs (n_blocks >= 1, dims) embeddings, got shape {blocks.shape}")
    return np.concatenate([blocks.mean(axis=0), blocks.max(axis=0)]).astype(np.float32)


FREEZE_MODES = ("all", "none", "partial")


class AisfxClassifier(nn.Module):
    """The aisfx CNN with a new linear head: `(batch, 1, 96, frames)` aisfx input -> class logits.

    `pretrained`: start from the shipped weights (else random init, the wheel's initialisation).
    `freeze`: `all` (a probe: only the head learns), `none`, or `partial` (the first `frozen_blocks` of
    the 4 conv blocks frozen). Frozen blocks keep their BatchNorm statistics too: they normalise with the
    stored statistics whatever the training flag says. `num_classes=None` returns the 512-d embedding instead of logits.
    """

    def __init__(
        self,
        num_classes: int | None,
        pretrained: bool = True,
        freeze: str = "none",
        frozen_blocks: int | None = None,
        dropout: float | None = 0.0,
    ) -> None:
        super().__init__()
        if freeze not in FREEZE_MODES:
            raise ConfigError(f"aisfx_cnn9: freeze must be one of {', '.join(FREEZE_MODES)}, got {freeze!r}")
        if freeze == "partial":
            if frozen_blocks is None or not 1 <= int(frozen_blocks) <= NUM_BLOCKS - 1:
                raise ConfigError(f"aisfx_cnn9: freeze: partial needs frozen_blocks between 1 and {NUM_BLOCKS - 1}, got {frozen_blocks}")
        elif frozen_blocks is not None:
            raise ConfigError(f"aisfx_cnn9: frozen_blocks is only used with freeze: partial (got freeze: {freeze})")
        if freeze == "all" and not pretrained:
            raise ConfigError("aisfx_cnn9: freeze: all with pretrained: false would train a head on random features (fix: pretrained: true)")
        dropout = 0.0 if dropout is None else float(dropout)
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"aisfx_cnn9: dropout must lie in [0, 1), got {dropout}")
        self.backbone = AisfxEmbeddingNet()
        if pretrained:
            load_pretrained_weights(self.backbone)
        self.num_frozen_blocks = {"all": NUM_BLOCKS, "none": 0, "partial": int(frozen_blocks or 0)}[freeze]
        for block in self.backbone.blocks()[: self.num_frozen_blocks]:
            block.frozen = True
            for parameter in block.parameters():
                parameter.requires_grad_(False)
        self.embedding_dim = EMBEDDING_SIZE
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(EMBEDDING_SIZE, num_classes) if num_classes is not None else None

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The backbone's trainable parameters (empty when frozen): give them the smaller learning rate."""
        return [parameter for parameter in self.backbone.parameters() if parameter.requires_grad]

    def head_parameters(self) -> list[nn.Parameter]:
        """The new head's parameters."""
        return list(self.head.parameters()) if self.head is not None else []

    def parameter_groups(self, lr: float, backbone_lr_scale: float = 0.1) -> list[dict]:
        """Optimizer parameter groups: the backbone at `lr * backbone_lr_scale`, the head at `lr`."""
        return [
            {"params": self.backbone_parameters(), "lr": lr * backbone_lr_scale, "name": "backbone"},
            {"params": self.head_parameters(), "lr": lr, "name": "head"},
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedding = self.backbone(x)
        if self.head is None:
            return embedding
        return self.head(self.dropout(embedding))
