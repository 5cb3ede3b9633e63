"""Training engine: learning a generated task, early stopping that restores and reports the true best
epoch (checked against the CSV log), resume after a kill matching an uninterrupted run, and
checkpoints that load with weights_only while a tampered pickle is refused."""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from generated import log_mel_dataset

from sonolab.audio.features import apply_reference_and_floor
from sonolab.errors import SonolabError
from sonolab.models.registry import build_model
from sonolab.train.data import EpochSampler, SpectrogramDataset
from sonolab.train.engine import fit, load_checkpoint, predict_probabilities, read_csv_log
from sonolab.train.module import ClassifierModule

TINY_MODEL = {"name": "baseline_cnn", "channels": [6, 12], "dropout": 0.2}
FRAMES = 24


def _datasets(seed: int, train_count: int, val_count: int, random_labels: bool = False):
    matrices, labels, settings = log_mel_dataset(train_count + val_count, seed, random_labels=random_labels)
    referenced = [apply_reference_and_floor(m, settings) for m in matrices]
    train = SpectrogramDataset(referenced[:train_count], labels[:train_count], FRAMES, settings.floor_db, "random", seed=seed)
    val = SpectrogramDataset(referenced[train_count:], labels[train_count:], FRAMES, settings.floor_db, "middle", seed=seed)
    return train, val


def _module(seed: int, lr: float = 3e-3) -> ClassifierModule:
    L.seed_everything(seed, verbose=False)
    return ClassifierModule(build_model(TINY_MODEL, 2), 2, lr=lr, weight_decay=0.0, seed=seed)


def _training(**changes) -> dict:
    return {"epochs": 5, "batch_size": 16, "monitor": "val_loss", "patience": 0, "gradient_clip_norm": 1.0, **changes}


class StopAtEpoch(L.Callback):
    """Simulates a kill: raises when epoch `epoch` (0-based) starts, after the previous epoch's checkpoint."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt("simulated kill")


def test_sampler_draws_depend_only_on_seed_and_epoch() -> None:
    sampler = EpochSampler([0, 1] * 10, seed=3)
    sampler.set_epoch(4)
    first = list(sampler)
    sampler.set_epoch(5)
    other = list(sampler)
    sampler.set_epoch(4)
    assert list(sampler) == first and first != other
    assert sorted(i for i, _ in first) == list(range(20))
    # 200 draws, not 20: with 20 the 0.3-0.7 band is only ~1.6 standard deviations wide (10% of seeds fall
    # outside it); with 200 it is ~5.7 (500 seeds: 0.395-0.615)
    balanced = EpochSampler([0] * 180 + [1] * 20, seed=0, balanced=True)
    drawn = np.array([i for i, _ in balanced]) >= 180
    assert 0.3 < drawn.mean() < 0.7  # the 10% class fills about half of a balanced epoch


def test_tones_vs_noise_is_learned(tmp_path: Path) -> None:
    train, val = _datasets(seed=0, train_count=64, val_count=40)
    module = _module(0)
    outcome = fit(module, train, train.labels, val, val.labels, _training(epochs=6), 0, tmp_path, progress=False)
    labels, probabilities = predict_probabilities(module.model, val)
    accuracy = float((probabilities.argmax(1) == labels).mean())
    assert accuracy >= 0.95, f"accuracy {accuracy:.3f} after {outcome.epochs_run} epochs"


def test_early_stopping_restores_and_reports_the_true_best_epoch(tmp_path: Path) -> None:
    # Random labels: nothing generalises, so validation loss bottoms out early and then rises as the
    # model memorises; early stopping must stop, restore the best epoch's weights and name that epoch.
    train, val = _datasets(seed=5, train_count=48, val_count=32, random_labels=True)
    module = _module(5, lr=1e-2)
    training = _training(epochs=12, patience=2)
    outcome = fit(module, train, train.labels, val, val.labels, training, 5, tmp_path, progress=False)
    rows = [row for row in read_csv_log(tmp_path) if "val_loss" in row]
    losses = [row["val_loss"] for row in rows]
    best_index = int(np.argmin(losses))
    assert outcome.best_epoch == best_index + 1  # counted from 1; the CSV counts from 0
    assert outcome.best_score == pytest.approx(losses[best_index], rel=1e-5)
    if outcome.stopped_early:
        assert outcome.epochs_run == outcome.best_epoch + training["patience"]  # not `epoch - patience` guesswork
    assert losses[-1] > losses[best_index]  # the last epoch is worse, so restoring matters
    # the weights in the module are those of the best epoch: recomputed val loss equals the logged best
    labels, probabilities = predict_probabilities(module.model, val)
    recomputed = float(torch.nn.functional.nll_loss(torch.log(torch.from_numpy(probabilities)), torch.from_numpy(labels)))
    assert recomputed == pytest.approx(losses[best_index], rel=1e-4)
    assert recomputed != pytest.approx(losses[-1], rel=1e-4)


@pytest.mark.parametrize("ema_decay", [0.0, 0.8], ids=["plain", "ema"])
def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path: Path, ema_decay: float) -> None:
    train, val = _datasets(seed=2, train_count=48, val_count=24)
    training = _training(epochs=4, patience=0, ema_decay=ema_decay)
    full = _module(2)
    full_outcome = fit(full, train, train.labels, val, val.labels, training, 2, tmp_path / "full", progress=False)

    interrupted = _module(2)
    with pytest.raises(BaseException):
        fit(interrupted, train, train.labels, val, val.labels, training, 2, tmp_path / "killed", progress=False, extra_callbacks=[StopAtEpoch(2)])
    saved = load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.ckpt")
    assert saved["epoch"] == 1  # two epochs were done before the kill
    resumed = _module(99)  # a fresh process would rebuild the model; the checkpoint decides its weights
    resumed.seed = 2
    resumed_outcome = fit(resumed, train, train.labels, val, val.labels, training, 2, tmp_path / "killed", resume=True, progress=False)

    assert resumed_outcome.best_epoch == full_outcome.best_epoch
    assert resumed_outcome.best_score == pytest.approx(full_outcome.best_score, rel=1e-6)
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name
    full_rows = read_csv_log(tmp_path / "full")
    resumed_rows = read_csv_log(tmp_path / "killed")  # two log versions, merged by epoch
    assert [r["epoch"] for r in resumed_rows] == [r["epoch"] for r in full_rows]
    for a, b in zip(full_rows, resumed_rows):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)


def test_ema_weights_are_validated_checkpointed_and_restored(tmp_path: Path) -> None:
    train, val = _datasets(seed=4, train_count=48, val_count=24)
    module = _module(4)
    outcome = fit(module, train, train.labels, val, val.labels, _training(epochs=3, ema_decay=0.8), 4, tmp_path, progress=False)
    best = load_checkpoint(outcome.best_checkpoint)  # still weights_only: the average is plain tensors
    averaged, raw = best["state_dict"], best["current_model_state"]
    assert any(not torch.allclose(averaged[name], raw[name]) for name in raw if raw[name].is_floating_point())
    for name, value in module.state_dict().items():  # the restored model holds the averaged weights
        assert torch.equal(value, averaged[name]), name
    # the logged validation loss of the best epoch is the averaged model's, as restored
    _, probabilities = predict_probabilities(module.model, val)
    loss = torch.nn.functional.nll_loss(torch.log(torch.as_tensor(probabilities)), torch.as_tensor(val.labels))
    assert float(loss) == pytest.approx(outcome.best_score, rel=1e-4)


def test_restore_last_keeps_the_final_epoch_and_reports_its_unselected_score(tmp_path: Path) -> None:
    train, val = _datasets(seed=3, train_count=32, val_count=16)
    module = _module(3)
    outcome = fit(module, train, train.labels, val, val.labels, _training(epochs=3, restore="last"), 3, tmp_path, progress=False)
    last = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert outcome.best_epoch == 3 and last["epoch"] == 2 and outcome.best_checkpoint.name == "last.ckpt"
    for name, value in module.state_dict().items():
        assert torch.equal(value, last["state_dict"][name]), name
    assert outcome.best_score == pytest.approx(read_csv_log(tmp_path)[-1]["val_loss"])
    with pytest.raises(SonolabError, match="patience"):
        fit(_module(3), train, train.labels, val, val.labels, _training(epochs=3, restore="last", patience=2), 3, tmp_path / "b", progress=False)
    with pytest.raises(SonolabError, match="best or last"):
        fit(_module(3), train, train.labels, val, val.labels, _training(restore="final"), 3, tmp_path / "c", progress=False)


class FlatMonitor(L.Callback):
    """Logs a validation metric that never improves after the first epoch (a plateau)."""

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log("val_flat", 1.0)


def test_last_checkpoint_is_written_every_epoch_even_without_improvement(tmp_path: Path) -> None:
    train, val = _datasets(seed=3, train_count=16, val_count=8)
    outcome = fit(_module(3), train, train.labels, val, val.labels, _training(epochs=3, monitor="val_flat", monitor_mode="min"),
                  3, tmp_path, progress=False, extra_callbacks=[FlatMonitor()])
    assert outcome.best_epoch == 1  # the monitor never improves after the first epoch
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["epoch"] == 2  # but the last epoch is saved
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.ckpt")) == ["best-epoch000.ckpt", "last.ckpt"]


class _Payload:
    """Runs a command when unpickled (what a malicious checkpoint does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoints_load_weights_only_and_tampered_pickles_are_refused(tmp_path: Path) -> None:
    train, val = _datasets(seed=1, train_count=16, val_count=8)
    module = _module(1)
    fit(module, train, train.labels, val, val.labels, _training(epochs=1), 1, tmp_path, progress=False)
    last = tmp_path / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)  # plain tensors and values only
    assert "state_dict" in checkpoint and checkpoint["epoch"] == 0

    marker = tmp_path / "pwned"
    checkpoint["callbacks"] = {"evil": _Payload(marker)}
    torch.save(checkpoint, last)
    with pytest.raises(SonolabError, match="refused"):
        load_checkpoint(last)
    with pytest.raises(SonolabError, match="refused"):  # resuming from it is refused too
        fit(_module(1), train, train.labels, val, val.labels, _training(epochs=2), 1, tmp_path, resume=True, progress=False)
    assert not marker.exists()


def test_training_items_are_cropped_and_masked_reproducibly_with_the_floor() -> None:
    floor_db = -80.0
    matrix = np.full((16, 60), -20.0, dtype=np.float32)
    masks = {"enabled": True, "time_masks": 2, "max_time_mask_frames": 8, "frequency_masks": 2, "max_frequency_mask_bins": 4}
    dataset = SpectrogramDataset([matrix], [0], 40, floor_db, "random", seed=7, spec_augment=masks)
    first, label = dataset[(0, 3)]
    again, _ = dataset[(0, 3)]
    other_epoch, _ = dataset[(0, 4)]
    assert first.shape == (1, 16, 40) and label == 0
    assert torch.equal(first, again) and not torch.equal(first, other_epoch)
    values = set(np.unique(first.numpy()).tolist())
    assert values <= {-20.0, floor_db} and floor_db in values  # masks are silence, never 0 dB
    short = SpectrogramDataset([matrix[:, :10]], [1], 40, floor_db, "middle")
    padded, _ = short[0]
    assert torch.all(padded[0, :, 10:] == floor_db)


def test_class_weights_are_inverse_frequencies() -> None:
    from sonolab.train.data import inverse_frequency_weights

    weights = inverse_frequency_weights([0] * 6 + [1] * 2, num_classes=3)
    assert weights == pytest.approx([8 / (2 * 6), 8 / (2 * 2), 0.0])  # n / (k * count), absent class 0
