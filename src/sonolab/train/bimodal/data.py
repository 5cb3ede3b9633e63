"""Bimodal data: log-mels (dB re unity, then the recipe's reference and floor) and cached lyric tokens per song.

The `dataset_max` reference is computed over the TRAINING partition only and frozen into the
feature settings that are saved with the model. Feature matrices are fitted to `target_frames`
with a named crop strategy (`framing.crop` for training, `framing.eval_crop` otherwise) and padded
with the floor value, never 0 dB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sonolab.audio.features import FeatureSettings, compute_dataset_max_reference, log_mel_re_unity
from sonolab.audio.io import load_audio
from sonolab.data.items import Item, Problem

from sonolab.models.bimodal import QUADRANT_CLASSES, TARGET_NAMES


def song_log_mel_re_unity(path: str | Path, settings: FeatureSettings) -> np.ndarray:
    """dB-re-unity log-mel `(n_mels, frames)` of one audio file at the settings' sample rate (mono)."""
    audio, sample_rate_hz = load_audio(path, target_sample_rate_hz=settings.sample_rate_hz, mono=True)
    return log_mel_re_unity(audio[0], sample_rate_hz, settings)


def freeze_reference(settings: FeatureSettings, training_matrices: Sequence[np.ndarray]) -> FeatureSettings:
    """For `dataset_max`, the global maximum over the training matrices frozen into the settings."""
    if settings.db_reference != "dataset_max":
        return settings
    return settings.with_updates(dataset_max_reference=compute_dataset_max_reference(training_matrices, settings))


@dataclass
class SongTable:
    """Everything a song contributes, aligned by row."""

    ids: list[str]
    mels: Sequence[np.ndarray] | None  # referenced + floored on access, full length (fitted per access)
    input_ids: torch.Tensor | None
    attention_mask: torch.Tensor | None
    targets: torch.Tensor  # (n, 2) arousal, valence
    labels: torch.Tensor  # (n,) quadrant index


class SongDataset(Dataset):
    """Dict samples: `mel` (1, n_mels, target_frames), `input_ids`, `attention_mask`, `av`, `label`, `index`.

    Keys may be `(index, epoch)` pairs (the engine's EpochSampler): the crop generator is then a pure
    function of (seed, epoch, index), so a resumed run draws the crops the uninterrupted one drew.
    """

    def __init__(self, table: SongTable, target_frames: int, floor_db: float, crop: str, seed: int = 0,
                 spec_augment: dict[str, Any] | None = None, spectrogram_warp: dict[str, Any] | None = None) -> None:
        self.table = table
        self.target_frames = int(target_frames)
        self.floor_db = float(floor_db)
        self.crop = crop
        self.seed = int(seed)
        self.spec_augment = spec_augment  # enabled options only (training partitions), or None
        self.spectrogram_warp = spectrogram_warp

    def __len__(self) -> int:
        return len(self.table.ids)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        row, epoch = key if isinstance(key, tuple) else (key, 0)
        sample: dict[str, torch.Tensor] = {
            "av": self.table.targets[row], "label": self.table.labels[row], "index": torch.tensor(row),
        }
        if self.table.mels is not None:
            from sonolab.train.data import augment_and_frame

            rng = np.random.default_rng([self.seed, int(epoch), int(row)])
            fitted = augment_and_frame(self.table.mels[row], rng, self.target_frames, self.floor_db, self.crop,
                                       self.spectrogram_warp, self.spec_augment)
            sample["mel"] = torch.from_numpy(np.ascontiguousarray(fitted)).unsqueeze(0)
        if self.table.input_ids is not None:
            sample["input_ids"] = self.table.input_ids[row]
            sample["attention_mask"] = self.table.attention_mask[row]
        return sample


@dataclass
class PreparedData:
    """Per-partition tables, the frozen feature settings and every problem met on the way."""

    tables: dict[str, SongTable]
    settings: FeatureSettings
    problems: list[Problem] = field(default_factory=list)
    token_cache: Path | None = None
    truncated_lyrics: list[str] = field(default_factory=list)


def build_table(
    ids: Sequence[str], by_id: dict[str, Item], mels: Any | None, settings: FeatureSettings,
    tokens: Any | None,
) -> SongTable:
    """The rows of `ids` that have audio features (when `mels`, the cache or a mapping, is given) and lyric tokens
    (when `tokens` is given); matrices are referenced lazily from `mels`, never copied as a whole."""
    rows = [item_id for item_id in ids if (mels is None or item_id in mels) and (tokens is None or item_id in tokens.ids)]
    targets = torch.tensor([[by_id[i].targets[name] for name in TARGET_NAMES] for i in rows], dtype=torch.float32).reshape(-1, 2)
    labels = torch.tensor([QUADRANT_CLASSES.index(by_id[i].label) for i in rows], dtype=torch.long)
    referenced = None
    if mels is not None:
        from sonolab.train.classification import ReferencedMatrices, _MappingSource

        referenced = ReferencedMatrices(mels if hasattr(mels, "get") else _MappingSource(mels), rows, settings)
    input_ids = attention_mask = None
    if tokens is not None:
        input_ids, attention_mask = tokens.rows(rows)
    return SongTable(list(rows), referenced, input_ids, attention_mask, targets, labels)


def collect_predictions(model: torch.nn.Module, dataset: SongDataset, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Run `model` over a dataset in order: rows, predicted av (if any), class probabilities (if any)."""
    model.eval()
    device = next(model.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    rows, av, probabilities = [], [], []
    with torch.no_grad():
        for batch in loader:
            batch = {key: value.to(device) for key, value in batch.items()}
            outputs = model(batch)
            rows.append(batch["index"].cpu())
            if "av" in outputs:
                av.append(outputs["av"].cpu())
            if "logits" in outputs:
                probabilities.append(torch.softmax(outputs["logits"], dim=1).cpu())
    result = {"rows": torch.cat(rows).numpy()}
    if av:
        result["av"] = torch.cat(av).numpy()
    if probabilities:
        result["probabilities"] = torch.cat(probabilities).numpy()
    return result

