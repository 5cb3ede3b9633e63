"""musicnn (Pons & Serra 2019), MSD model, reimplemented in PyTorch with the wheel's converted weights.

The network of `musicnn==0.1.0`'s `models.build_musicnn` (front-end 7774timbraltemporal, 64-filter dense
mid-end, 200-unit back-end), batch norm in inference mode (TF's epsilon 1e-3), dropout off. Weights:
`sonolab/assets/musicnn/msd_musicnn.safetensors`, converted once by `scripts/convert_musicnn.py` (ISC licence,
provenance and citation in `provenance.json` beside them). Input: `sonolab.audio.musicnn_input`.

Public API: `taggram_and_embeddings(waveform_mono, sample_rate_hz)` -> (taggram (n_patches, 50) sigmoid
tag likelihoods in `MSD_TAGS` order, penultimate embedding (n_patches, 200)), one row per 3 s patch, and
`extract(waveform_mono, sample_rate_hz, settings)` -> the embeddings, for the feature cache.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sonolab.audio.musicnn_input import N_MELS, musicnn_input

EMBEDDING_DIM = 200
TF_BATCH_NORM_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default (PyTorch's is 1e-5)
ASSET_PACKAGE = "sonolab.assets"
WEIGHTS_FILE = "msd_musicnn.safetensors"


def _asset_dir() -> Path:
    return Path(str(resources.files(ASSET_PACKAGE).joinpath("musicnn")))


def _provenance() -> dict[str, Any]:
    return json.loads((_asset_dir() / "provenance.json").read_text(encoding="utf-8"))


MSD_TAGS: list[str] = list(_provenance()["tags"])


def _bn2d(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=TF_BATCH_NORM_EPSILON)


def _bn1d(channels: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, eps=TF_BATCH_NORM_EPSILON)


class MusiCNN(nn.Module):
    """musicnn on (batch, 187 frames, 96 mel) patches; `forward` returns (logits, penultimate)."""

    def __init__(self, n_mels: int = N_MELS, num_classes: int = 50, frontend_scale: float = 1.6,
                 midend_filters: int = 64, backend_units: int = 200) -> None:
        super().__init__()
        timbral, temporal = int(frontend_scale * 128), int(frontend_scale * 32)
        self.input_bn = _bn2d(1)
        self.timbral_74_conv, self.timbral_74_bn = nn.Conv2d(1, timbral, (7, int(0.4 * n_mels))), _bn2d(timbral)
        self.timbral_77_conv, self.timbral_77_bn = nn.Conv2d(1, timbral, (7, int(0.7 * n_mels))), _bn2d(timbral)
        self.temporal_128_conv, self.temporal_128_bn = nn.Conv2d(1, temporal, (128, 1)), _bn2d(temporal)
        self.temporal_64_conv, self.temporal_64_bn = nn.Conv2d(1, temporal, (64, 1)), _bn2d(temporal)
        self.temporal_32_conv, self.temporal_32_bn = nn.Conv2d(1, temporal, (32, 1)), _bn2d(temporal)
        frontend_channels = 2 * timbral + 3 * temporal
        self.midend_1_conv, self.midend_1_bn = nn.Conv1d(frontend_channels, midend_filters, 7), _bn1d(midend_filters)
        self.midend_2_conv, self.midend_2_bn = nn.Conv1d(midend_filters, midend_filters, 7), _bn1d(midend_filters)
        self.midend_3_conv, self.midend_3_bn = nn.Conv1d(midend_filters, midend_filters, 7), _bn1d(midend_filters)
        pooled = 2 * (frontend_channels + 3 * midend_filters)
        self.pool_bn = _bn1d(pooled)
        self.dense, self.dense_bn = nn.Linear(pooled, backend_units), _bn1d(backend_units)
        self.output = nn.Linear(backend_units, num_classes)

    @staticmethod
    def _frequency_max(conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
        """conv -> ReLU -> batch norm -> max over the whole frequency axis: (batch, channels, time).

        Computed in the equivalent cheaper order (the maps are large, the pooled result is small): ReLU is
        monotonic and inference batch norm is a per-channel affine map a*x + b, so the frequency max of
        bn(relu(z)) is bn(relu(max z)) where a > 0 and bn(relu(min z)) where a < 0.
        """
        low, high = torch.aminmax(conv(x), dim=3)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        pooled = torch.where((scale >= 0)[None, :, None], high, low)
        return bn(F.relu(pooled).unsqueeze(3)).squeeze(3)

    @staticmethod
    def _same_time_pad(x: torch.Tensor, kernel: int) -> torch.Tensor:
        """TF's 'same' padding along time for an even kernel: (k-1)//2 before, the rest after."""
        before = (kernel - 1) // 2
        return F.pad(x, (0, 0, before, kernel - 1 - before))

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.input_bn(patches.unsqueeze(1))  # (batch, 1, time, mel)
        padded = F.pad(x, (0, 0, 3, 3))  # time only: a 'same' timbral conv, frequency pooled away after
        frontend = torch.cat([
            self._frequency_max(self.timbral_74_conv, self.timbral_74_bn, padded),
            self._frequency_max(self.timbral_77_conv, self.timbral_77_bn, padded),
            self._frequency_max(self.temporal_128_conv, self.temporal_128_bn, self._same_time_pad(x, 128)),
            self._frequency_max(self.temporal_64_conv, self.temporal_64_bn, self._same_time_pad(x, 64)),
            self._frequency_max(self.temporal_32_conv, self.temporal_32_bn, self._same_time_pad(x, 32)),
        ], dim=1)  # (batch, 561, time)
        mid1 = self.midend_1_bn(F.relu(self.midend_1_conv(F.pad(frontend, (3, 3)))))
        mid2 = self.midend_2_bn(F.relu(self.midend_2_conv(F.pad(mid1, (3, 3))))) + mid1
        mid3 = self.midend_3_bn(F.relu(self.midend_3_conv(F.pad(mid2, (3, 3))))) + mid2
        features = torch.cat([frontend, mid1, mid2, mid3], dim=1)  # (batch, 753, time)
        # TF concatenates (max, mean) per channel, then flattens: [max_0, mean_0, max_1, mean_1, ...]
        pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return self.output(penultimate), penultimate


def load_musicnn(weights_path: Path | str | None = None) -> MusiCNN:
    """The MSD musicnn in eval mode with the converted weights (safetensors: loading runs no code)."""
    from safetensors.torch import load_file

    path = Path(weights_path) if weights_path is not None else _asset_dir() / WEIGHTS_FILE
    model = MusiCNN()
    missing, unexpected = model.load_state_dict(load_file(str(path)), strict=False)
    missing = [key for key in missing if not key.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: not the MSD musicnn weights (missing {missing}, unexpected {unexpected})")
    return model.eval()


_MODEL_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _default_model() -> MusiCNN:
    return load_musicnn()


@torch.inference_mode()
def run_patches(patches: np.ndarray, batch_size: int = 32, model: MusiCNN | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(taggram, embeddings) for (n_patches, 187, 96) patches."""
    with _MODEL_LOCK:
        network = model or _default_model()
    tags, embeddings = [], []
    for start in range(0, len(patches), batch_size):
        logits, penultimate = network(torch.from_numpy(np.ascontiguousarray(patches[start:start + batch_size])))
        tags.append(torch.sigmoid(logits).numpy())
        embeddings.append(penultimate.numpy())
    return np.concatenate(tags).astype(np.float32), np.concatenate(embeddings).astype(np.float32)


def taggram_and_embeddings(waveform_mono: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """(taggram (n_patches, 50), penultimate embedding (n_patches, 200)) for one mono waveform at any rate,
    one row per 3 s patch (a clip shorter than 3 s is repeat-padded to one patch)."""
    return run_patches(musicnn_input(waveform_mono, sample_rate_hz))


def extract(waveform_mono: np.ndarray, sample_rate_hz: int, settings: Any = None) -> np.ndarray:
    """Feature-cache interface: (n_patches, 200) penultimate embeddings (`settings` is not used)."""
    return taggram_and_embeddings(waveform_mono, sample_rate_hz)[1]
