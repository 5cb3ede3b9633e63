"""Datasets and samplers for training on log-mel matrices.

Randomness is a pure function of (seed, epoch, item): the sampler yields `(index, epoch)` pairs and the
dataset derives each item's crop/augmentation generator from them. An interrupted run resumed at
epoch k therefore draws exactly the batches and masks the uninterrupted run drew.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from sonolab.audio.framing import fit_frames


def reseed_torch_for_epoch(seed: int, epoch: int) -> None:
    """Reseed torch's global generator (dropout, mixup draws) from (seed, epoch): a run resumed at epoch k
    draws what the uninterrupted run drew."""
    torch.manual_seed(int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0]))


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for one item in one epoch of one run."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


class SpectrogramDataset(Dataset):
    """(1, n_mels, target_frames) float32 tensors and integer labels from referenced, floored dB matrices.

    `matrices` are already relative to the run's dB reference and clipped at `floor_db`. Training
    datasets crop with `crop` (e.g. random) and may apply SpecAugment; evaluation datasets use a
    deterministic crop (e.g. middle) and no augmentation.
    """

    def __init__(
        self,
        matrices: Sequence[np.ndarray],
        labels: Sequence[int],
        target_frames: int,
        floor_db: float,
        crop: str = "middle",
        seed: int = 0,
        spec_augment: dict[str, Any] | None = None,
        spectrogram_warp: dict[str, Any] | None = None,
        group_statistics: Sequence[Any] | None = None,
    ) -> None:
        if len(matrices) != len(labels):
            raise ValueError("matrices and labels differ in length")
        if group_statistics is not None and len(group_statistics) != len(labels):
            raise ValueError("group statistics and labels differ in length")
        # per item, its group's `BandStatistics` (features.group_normalisation): applied to the framed input
        self.group_statistics = None if group_statistics is None else list(group_statistics)
        self.matrices = list(matrices)
        self.labels = [int(label) for label in labels]
        self.target_frames = int(target_frames)
        self.floor_db = float(floor_db)
        self.crop = crop
        self.seed = int(seed)
        self.spec_augment = _enabled_options(spec_augment)
        self.spectrogram_warp = _enabled_options(spectrogram_warp)

    def __len__(self) -> int:
        return len(self.matrices)

    def matrix(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """The item's referenced, floored dB matrix before framing (subclasses may compute it)."""
        return self.matrices[index]

    def features(self, index: int, epoch: int = 0) -> np.ndarray:
        rng = item_rng(self.seed, epoch, index)
        framed = augment_and_frame(self.matrix(index, rng), rng, self.target_frames, self.floor_db, self.crop,
                                   self.spectrogram_warp, self.spec_augment)
        # after framing: padding and masks (the floor, i.e. silence) are standardised like the group's own silence
        return framed if self.group_statistics is None else self.group_statistics[index].standardise(framed)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        return torch.from_numpy(self.features(index, epoch)[None]), self.labels[index]


def augment_and_frame(matrix: np.ndarray, rng: np.random.Generator, target_frames: int, floor_db: float, crop: str,
                      warp: dict[str, Any] | None = None, masks: dict[str, Any] | None = None) -> np.ndarray:
    """One item's model input: the spectrogram warp (if any), the named crop/pad to `target_frames` (padding
    with the floor), then SpecAugment masks (if any) filled with the floor. Every draw comes from `rng`."""
    if warp is not None:
        from sonolab.audio.augment import spectrogram_warp

        matrix = spectrogram_warp(matrix, rng, floor_db=floor_db, **warp)
    fitted = fit_frames(matrix, target_frames, floor_db, crop, rng).features
    if masks is not None:
        from sonolab.audio.augment import spec_augment

        fitted = spec_augment(fitted, rng, fill_db=floor_db, **masks)
    return np.asarray(fitted, dtype=np.float32)


def enabled_options(section: dict[str, Any] | None) -> dict[str, Any] | None:
    """An augmentation's options without `enabled`, or None when the section is absent or disabled."""
    return _enabled_options(section)


def _enabled_options(section: dict[str, Any] | None) -> dict[str, Any] | None:
    """An augmentation's options without `enabled`, or None when the section is absent or disabled."""
    if not section or not section.get("enabled"):
        return None
    return {key: value for key, value in section.items() if key != "enabled"}


class WaveformAugmentedDataset(SpectrogramDataset):
    """Training items whose log-mel is computed per epoch from an augmented waveform (audiomentations:
    noise at an SNR, pitch shift, time stretch, gain, reverb), then referenced, floored, framed and masked
    like `SpectrogramDataset`. The augmenter is reseeded per (seed, epoch, item), so every item's draw is
    the same whichever data-loader worker computes it, and a resumed run repeats the uninterrupted one.
    Run it with data-loader workers (`training.num_workers`) so that augmentation overlaps training steps.
    """

    def __init__(self, waveforms: Sequence[np.ndarray], labels: Sequence[int], settings: Any, waveform_augment: dict[str, Any],
                 target_frames: int, crop: str = "random", seed: int = 0, spec_augment: dict[str, Any] | None = None,
                 spectrogram_warp: dict[str, Any] | None = None, group_statistics: Sequence[Any] | None = None) -> None:
        from sonolab.audio.augment import AugmentSettings, WaveformAugmenter

        super().__init__([np.empty((0, 0), np.float32)] * len(waveforms), labels, target_frames, settings.floor_db, crop, seed,
                         spec_augment, spectrogram_warp, group_statistics)
        self.waveforms = [np.asarray(w, dtype=np.float32) for w in waveforms]
        self.settings = settings
        self.augmenter = WaveformAugmenter(AugmentSettings.from_dict(_enabled_options(waveform_augment) or {}), seed)

    def matrix(self, index: int, rng: np.random.Generator) -> np.ndarray:
        from sonolab.audio.features import apply_reference_and_floor, log_mel_re_unity

        self.augmenter.reseed(int(rng.integers(0, 2**63 - 1)))
        audio = self.augmenter(self.waveforms[index], self.settings.sample_rate_hz)
        return apply_reference_and_floor(log_mel_re_unity(audio, self.settings.sample_rate_hz, self.settings), self.settings)


class EpochSampler(Sampler):
    """Shuffles (or draws class-balanced samples) from a generator seeded by (seed, epoch).

    Lightning calls `set_epoch` at the start of every epoch, also after a resume. Under DDP (a process group
    is up) a training sampler (`shard=True`) gives each rank its own slice of the same epoch's order (padded by
    wrapping to equal length, as DDP needs equal step counts); an evaluation sampler (`shard=False`) gives
    every rank the whole partition, so validation metrics are computed over all of it and agree on every rank.
    The trainer is built with `use_distributed_sampler=False` so that this sampler (and its `set_epoch`) is the
    one in use, not a wrapper around it.
    """

    def __init__(self, labels: Sequence[int], seed: int, shuffle: bool = True, balanced: bool = False, shard: bool | None = None) -> None:
        self.labels = np.asarray(labels, dtype=int)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.balanced = balanced
        self.shard = shuffle if shard is None else shard
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @staticmethod
    def _rank_and_world() -> tuple[int, int]:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def __len__(self) -> int:
        rank, world = self._rank_and_world() if self.shard else (0, 1)
        return -(-len(self.labels) // world)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        count = len(self.labels)
        rng = np.random.default_rng([self.seed, self.epoch, 7919])
        if self.balanced:
            frequencies = np.bincount(self.labels)
            weights = 1.0 / frequencies[self.labels]
            order = rng.choice(count, size=count, replace=True, p=weights / weights.sum())
        elif self.shuffle:
            order = rng.permutation(count)
        else:
            order = np.arange(count)
        if self.shard:
            rank, world = self._rank_and_world()
            if world > 1:
                padded = np.resize(order, -(-count // world) * world)  # wraps around to a multiple of the ranks
                order = padded[rank::world]
        for index in order:
            yield int(index), self.epoch


def inverse_frequency_weights(labels: Sequence[int], num_classes: int) -> list[float]:
    """Loss weights n / (k * count_c) (scikit-learn's 'balanced'); absent classes get weight 0."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.tolist()
