"""Fit one model on one fold with one seed: Lightning Trainer with clipping, early stopping,
checkpoints (last + best), TensorBoard and CSV logs; the best weights are restored at the end and
the epoch they come from is read from the best checkpoint itself (not inferred from the patience).
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sonolab.errors import ConfigError
from sonolab.train.config import monitor_mode, restore_choice
from sonolab.train.data import EpochSampler


@dataclass
class FitOutcome:
    """What a fit produced. Epochs are counted from 1 (Lightning's CSV log counts from 0)."""

    best_epoch: int
    best_score: float
    monitor: str
    epochs_run: int
    stopped_early: bool
    best_checkpoint: Path
    last_checkpoint: Path

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch, "best_score": self.best_score, "monitor": self.monitor,
            "epochs_run": self.epochs_run, "stopped_early": self.stopped_early,
            "best_checkpoint": str(self.best_checkpoint), "last_checkpoint": str(self.last_checkpoint),
        }


def _precision(training: dict[str, Any]) -> str:
    precision = training.get("precision", "auto")
    if precision != "auto":
        return str(precision)
    return "16-mixed" if torch.cuda.is_available() and training.get("accelerator", "auto") in ("auto", "gpu", "cuda") else "32-true"


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint with `weights_only=True`: a file that would run code is refused."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        from sonolab.errors import SonolabError

        raise SonolabError(
            f"{path}: refused to load checkpoint: it holds more than tensors and plain values ({type(error).__name__}) "
            "(fix: only use checkpoints written by sonolab; never load untrusted pickles)"
        ) from error


def make_loader(dataset: Dataset, labels: Sequence[int], batch_size: int, seed: int, train: bool, training: dict[str, Any]) -> DataLoader:
    sampler = EpochSampler(labels, seed, shuffle=train, balanced=train and bool(training.get("balanced_sampling")))
    workers = loader_workers(dataset, training.get("num_workers", "auto")) if train else 0
    # An own generator: creating a loader iterator then never draws from torch's global generator, whose
    # state (reseeded per epoch for dropout) would otherwise depend on when Lightning builds iterators.
    generator = torch.Generator().manual_seed(int(seed))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, persistent_workers=workers > 0,
                      pin_memory=workers > 0 and torch.cuda.is_available(), drop_last=False, generator=generator)


def loader_workers(dataset: Dataset, setting: Any) -> int:
    """Worker processes for a training loader: a number, or `auto` (0 for cached features, whose items
    are an array lookup; CPU count - 1, at most 4, when items are computed from augmented waveforms)."""
    if setting != "auto":
        if not isinstance(setting, int) or isinstance(setting, bool) or setting < 0:
            raise ConfigError(f"training.num_workers must be auto or a whole number >= 0, got {setting!r}")
        return setting
    from sonolab.train.data import WaveformAugmentedDataset

    if isinstance(dataset, WaveformAugmentedDataset):
        return max(1, min(4, (os.cpu_count() or 1) - 1))
    return 0


def fit(
    module: Any,
    train_dataset: Dataset,
    train_labels: Sequence[int],
    val_dataset: Dataset,
    val_labels: Sequence[int],
    training: dict[str, Any],
    seed: int,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    extra_callbacks: Sequence[Any] = (),
) -> FitOutcome:
    """Train `module` (a LightningModule) and restore its best weights; returns the true best epoch."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, RichProgressBar
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    import logging

    # Lightning's info lines (accelerator banners, tips) would drown sonolab's own one-line-per-fold output.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    out_dir = Path(out_dir)
    checkpoint_dir = out_dir / "checkpoints"
    mode = monitor_mode(training)
    monitor = str(training["monitor"])
    keep_last = restore_choice(training) == "last"  # a bad value fails before any training
    checkpoint = ModelCheckpoint(
        dirpath=checkpoint_dir, filename="best-epoch{epoch:03d}", auto_insert_metric_name=False,
        monitor=monitor, mode=mode, save_top_k=1, save_last=False, every_n_epochs=1,
    )
    # `last.ckpt` after EVERY epoch, from its own callback: Lightning's save_last on a monitored checkpoint only
    # writes `last` in epochs that improve the monitor, so a run killed after a plateau would resume from the
    # best epoch instead of the last one and diverge from an uninterrupted run.
    last_checkpoint = ModelCheckpoint(
        dirpath=checkpoint_dir, filename="last", monitor=None, save_top_k=1, every_n_epochs=1,
        enable_version_counter=False,
    )
    callbacks: list[Any] = [checkpoint, last_checkpoint, *extra_callbacks]
    ema_decay = float(training.get("ema_decay") or 0.0)
    if ema_decay:
        # An exponential moving average of the weights (and batch-norm statistics), updated after every optimiser
        # step; validation, the checkpoints' `state_dict` and so the restored best epoch use the averaged weights.
        from lightning.pytorch.callbacks import WeightAveraging
        from torch.optim.swa_utils import get_ema_multi_avg_fn

        callbacks.append(WeightAveraging(multi_avg_fn=get_ema_multi_avg_fn(ema_decay)))
    if training.get("patience"):
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=int(training["patience"]), check_finite=True))
    if training.get("scheduler", "none") != "none":
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    if progress:
        callbacks.append(RichProgressBar(leave=False))
    clip = training.get("gradient_clip_norm")
    gpu = torch.cuda.is_available() and training.get("accelerator", "auto") in ("auto", "gpu", "cuda")
    trainer = L.Trainer(
        default_root_dir=str(out_dir),
        max_epochs=int(training["epochs"]),
        min_epochs=int(training.get("min_epochs", 1)),
        accelerator=training.get("accelerator", "auto"),
        devices=training.get("devices", 1),
        num_nodes=int(training.get("num_nodes", 1)),
        strategy=training.get("strategy", "auto"),
        precision=_precision(training),
        gradient_clip_val=float(clip) if clip else None,
        gradient_clip_algorithm="norm",
        deterministic="warn" if gpu else bool(training.get("deterministic", True)),
        callbacks=callbacks,
        # A new log version per attempt: Lightning's CSV writer would erase an existing metrics.csv on resume.
        logger=[CSVLogger(str(out_dir), name="logs"), TensorBoardLogger(str(out_dir), name="tensorboard")],
        enable_progress_bar=progress,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # EpochSampler shards training batches itself and validates on the whole partition
    )
    batch_size = int(training["batch_size"])
    train_loader = make_loader(train_dataset, train_labels, batch_size, seed, True, training)
    val_loader = make_loader(val_dataset, val_labels, batch_size, seed, False, training)
    last_path = checkpoint_dir / "last.ckpt"
    ckpt_path = str(last_path) if resume and last_path.is_file() else None
    if ckpt_path:
        load_checkpoint(ckpt_path)  # refuse a tampered file before Lightning sees it
    with quiet_third_party_warnings():
        trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
    if trainer.global_rank != 0:  # DDP: rank 0 restores, scores and saves; checkpoints are written by rank 0 only
        return FitOutcome(0, float("nan"), monitor, int(trainer.current_epoch), False, last_path, last_path)
    best_path = Path(checkpoint.best_model_path) if checkpoint.best_model_path and not keep_last else last_path
    best = load_checkpoint(best_path)
    module.load_state_dict(best["state_dict"])  # restore the selected epoch's weights (a real copy, from disk)
    epochs_run = int(trainer.current_epoch)
    if keep_last:  # the monitor's value in the final epoch: an estimate that took no part in any selection
        rows = [row for row in read_csv_log(out_dir) if int(row["epoch"]) == int(best["epoch"]) and monitor in row]
        score = rows[-1][monitor] if rows else None
    else:
        score = checkpoint.best_model_score
    return FitOutcome(
        best_epoch=int(best["epoch"]) + 1,
        best_score=float(score) if score is not None else float("nan"),
        monitor=monitor,
        epochs_run=epochs_run,
        stopped_early=epochs_run < int(training["epochs"]),
        best_checkpoint=best_path,
        last_checkpoint=last_path,
    )


# Third-party warnings that tell a sonolab user nothing they can act on (each checked for its cause):
QUIET_WARNINGS: tuple[str, ...] = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # Lightning 2.6 calling a torch 2.15 deprecated API
    r"Checkpoint directory .* exists and is not empty.*",  # a resumed fold writes into its own checkpoint folder
    r"Found \d+ module\(s\) in eval mode at the start of training.*",  # a frozen text tower is in eval mode on purpose
    r".*does not have many workers which may be a bottleneck.*",  # cached features are an array lookup (see loader_workers)
    r".*It is recommended to use `self.log\(.*sync_dist=True\)`.*",  # DDP: every rank validates the whole partition
)


@contextlib.contextmanager
def quiet_third_party_warnings() -> Iterator[None]:
    """Silence QUIET_WARNINGS while Lightning trains; every other warning is shown."""
    import warnings

    with warnings.catch_warnings():
        for pattern in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        yield


@torch.no_grad()
def predict_probabilities(model: torch.nn.Module, dataset: Dataset, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(labels, class probabilities) of `dataset` under `model` in eval mode, on the CPU or the model's device."""
    model.eval()
    device = next(model.parameters()).device
    labels, probabilities = [], []
    for features, batch_labels in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        logits = model(features.to(device)).float()
        probabilities.append(torch.softmax(logits, dim=1).cpu().numpy())
        labels.append(np.asarray(batch_labels))
    return np.concatenate(labels), np.concatenate(probabilities)


def read_csv_log(run_dir: str | Path) -> list[dict[str, float]]:
    """Per-epoch rows (epoch counted from 0, as Lightning logs it) merged over every log version of a fit.

    Later versions (a resumed attempt) override earlier ones for the same epoch.
    """
    by_epoch: dict[int, dict[str, float]] = {}
    versions = sorted((Path(run_dir) / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    for path in versions:
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if not row.get("epoch"):
                    continue
                epoch = int(float(row["epoch"]))
                target = by_epoch.setdefault(epoch, {"epoch": float(epoch)})
                for key, value in row.items():
                    if value not in ("", None) and key != "epoch":
                        target[key] = float(value)
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]
