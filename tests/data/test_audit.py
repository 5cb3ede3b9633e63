"""The leakage audit fails on each planted leak and passes on the splits sonolab makes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import soundfile as sf
from dataset_fixtures import write_wav

from sonolab.audio.augment import AugmentSettings, materialise_variants
from sonolab.data.audit import audit_splits
from sonolab.data.registry import load_dataset
from sonolab.data.splits import make_splits, save_splits, load_splits


def make_melody_tree(root, classes=("cat", "dog", "owl"), per_class=6):
    """Distinct sources (a few harmonic notes each). Not `make_folder_tree`: its clips are decaying linear
    chirps, and two linear chirps are a pitch shift and time stretch of each other, which the copy
    detector (rightly) cannot tell from a transformed copy."""
    from test_content_index import melody

    for number, name in enumerate(n for n in classes for _ in range(per_class)):
        write_wav(root / name / f"{name}_{number % per_class:02d}.wav", melody(500 + number, duration_s=1.0), 16000)
    return root


@pytest.fixture()
def dataset(tmp_path):
    root = make_melody_tree(tmp_path / "data")
    index = load_dataset("folder", root)
    splits = make_splits(index, "holdout", seed=1, val_fraction=0.2, test_fraction=0.3)
    return root, index, splits


def kinds(report):
    return {leak.kind for leak in report.leaks}


def plant_copy(splits, root, source_id, new_id, samples_fn):
    """Write a processed copy of a test clip as a new, separately grouped training item."""
    audio, sample_rate_hz = sf.read(str(root / f"{source_id}.wav"), dtype="float32")
    write_wav(root / f"{new_id}.wav", samples_fn(audio), sample_rate_hz, subtype="FLOAT")
    planted = copy.deepcopy(splits)
    planted.folds[0].train.append(new_id)
    planted.groups[new_id] = f"planted-{new_id}"
    planted.labels[new_id] = splits.labels[source_id]
    planted.parents[new_id] = None
    planted.paths[new_id] = f"{new_id}.wav"
    return planted


def test_sonolab_splits_pass_the_audit_with_audio_checks(dataset):
    root, index, splits = dataset
    report = audit_splits(splits, root, workers=1)
    assert report.ok and report.audio_checked and report.items_checked == 18 and not report.unchecked


def test_a_group_in_two_partitions_is_a_leak(dataset):
    root, index, splits = dataset
    planted = copy.deepcopy(splits)
    moved = planted.folds[0].test[0]
    planted.groups[planted.folds[0].train[0]] = planted.groups[moved]
    report = audit_splits(planted, check_audio=False)
    assert not report.ok and kinds(report) == {"group"}
    assert moved in report.leaks[0].ids and report.leaks[0].fold == "fold-0"


def test_an_augmented_child_of_a_test_clip_in_train_is_a_leak(dataset, tmp_path):
    root, index, splits = dataset
    parent_id = splits.folds[0].test[0]
    settings = AugmentSettings(noise_probability=1.0, min_snr_db=30, max_snr_db=30, pitch_probability=0, stretch_probability=0,
                               gain_probability=0, reverb_probability=0)
    [child] = materialise_variants([index.by_id()[parent_id]], root / "aug", 1, settings, seed=0)
    planted = copy.deepcopy(splits)
    planted.folds[0].train.append(child.item_id)
    planted.groups[child.item_id] = "wrongly-its-own-group"  # the bug the users had: grouping per image
    planted.labels[child.item_id] = child.label
    planted.parents[child.item_id] = parent_id
    planted.paths[child.item_id] = str(child.path)
    report = audit_splits(planted, root, workers=1)
    parent_leaks = [leak for leak in report.leaks if leak.kind == "parent"]
    assert parent_leaks and set(parent_leaks[0].ids) == {child.item_id, parent_id}
    assert "near_identical_audio" in kinds(report)  # the audio check finds it even without the parent link
    planted.parents[child.item_id] = None
    assert kinds(audit_splits(planted, root, workers=1)) == {"near_identical_audio"}


def test_an_exact_copy_in_another_partition_is_a_leak(dataset):
    root, index, splits = dataset
    source = splits.folds[0].test[1]
    planted = plant_copy(splits, root, source, "copy_exact", lambda a: a)
    report = audit_splits(planted, root, workers=1)
    assert kinds(report) == {"identical_audio"}
    assert set(report.leaks[0].ids) == {source, "copy_exact"}


@pytest.mark.parametrize("name", ["gain_minus_6_db", "noise_at_20_db_snr"])
def test_a_processed_copy_is_a_near_identical_leak(dataset, name):
    root, index, splits = dataset
    source = splits.folds[0].test[2]
    rng = np.random.default_rng(11)

    def process(audio):
        if name == "gain_minus_6_db":
            return (audio * 10 ** (-6 / 20)).astype(np.float32)
        noise = rng.standard_normal(audio.size)
        noise *= np.sqrt(np.mean(audio**2) / np.mean(noise**2)) * 10 ** (-20 / 20)
        return (audio + noise).astype(np.float32)

    planted = plant_copy(splits, root, source, name, process)
    report = audit_splits(planted, root, workers=1)
    assert kinds(report) == {"near_identical_audio"}
    assert set(report.leaks[0].ids) == {source, name} and report.leaks[0].partitions == ["test", "train"]


def test_the_audit_uses_worker_processes_and_reads_splits_files(dataset, tmp_path):
    root, index, splits = dataset
    planted = plant_copy(splits, root, splits.folds[0].val[0], "copy_two", lambda a: 0.5 * a)
    path = save_splits(planted, tmp_path / "splits.json")
    report = audit_splits(load_splits(path), root, workers=2)
    assert [leak.kind for leak in report.leaks] == ["near_identical_audio"]


def test_bundled_real_fsdd_sample_verifies_and_its_loso_splits_pass_the_audit():
    from pathlib import Path

    from sonolab.data.verify import verify_dataset

    root = Path(__file__).resolve().parents[2] / "src" / "sonolab" / "assets" / "fsdd_sample"
    verified = verify_dataset("fsdd", root, workers=1, near_duplicates=False)
    assert verified.ok and verified.file_count == 300 and verified.group_count == 6 and verified.class_count == 10
    splits = make_splits(load_dataset("fsdd", root), "loso")
    report = audit_splits(splits, root, workers=1)
    assert report.ok and report.audio_checked and report.items_checked == 300 and not report.unchecked
