"""The training gate: a split with a planted copy across partitions is refused with the ids and the
fix; `--allow-leaks "reason"` lets it through and the reason is recorded; fingerprints are cached."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from dataset_fixtures import write_wav

from sonolab.data.copy_kinds import make_copy
from sonolab.data.fingerprint import FingerprintSettings
from sonolab.data.fingerprint_store import STORE_FOLDER
from sonolab.data.leak_gate import AUDIT_FILE, LeakError, audit_training_splits
from sonolab.data.registry import load_dataset
from sonolab.data.splits import make_splits
from sonolab.errors import SonolabError
from test_content_index import melody


@pytest.fixture()
def leaky(tmp_path):
    root = tmp_path / "data"
    for number in range(8):
        label = "ab"[number % 2]
        write_wav(root / label / f"clip{number}.wav", melody(number, duration_s=1.5), 16000)
    index = load_dataset("folder", root)
    splits = make_splits(index, "holdout", seed=0, val_fraction=0.25, test_fraction=0.25)
    source = splits.folds[0].test[0]
    audio, rate = sf.read(str(root / f"{source}.wav"), dtype="float32")
    copy = make_copy(audio, rate, ("shift_trim", "mp3"), np.random.default_rng(3))
    label = source.split("/")[0]
    write_wav(root / label / "renamed_upload.wav", copy.samples, copy.sample_rate_hz, subtype="FLOAT")
    index = load_dataset("folder", root)  # the copy is its own group: a split can put it anywhere
    splits = make_splits(index, "holdout", seed=0, val_fraction=0.25, test_fraction=0.25)
    fold = splits.folds[0]
    copy_id = f"{label}/renamed_upload"
    for partition in (fold.train, fold.val, fold.test):  # force the copy into train, its source stays in test
        if copy_id in partition:
            partition.remove(copy_id)
    if source not in fold.test:
        for partition in (fold.train, fold.val):
            if source in partition:
                partition.remove(source)
        fold.test.append(source)
    fold.train.append(copy_id)
    return index, splits, source, copy_id, tmp_path


def test_a_leaky_split_is_refused_naming_both_ids_and_the_fix(leaky):
    index, splits, source, copy_id, tmp = leaky
    with pytest.raises(LeakError) as caught:
        audit_training_splits(index, splits, tmp / "cache", tmp / "run", None)
    message = str(caught.value)
    assert isinstance(caught.value, SonolabError) and "\n" not in message
    assert source in message and copy_id in message and "--allow-leaks" in message and "group" in message
    audit = json.loads((tmp / "run" / AUDIT_FILE).read_text())
    assert audit["ok"] is False and audit["allowed"] is False and audit["allow_leaks_reason"] is None
    leak = [entry for entry in audit["leaks"] if entry["kind"] == "near_identical_audio"][0]
    assert set(leak["ids"]) == {source, copy_id}
    assert {"lag_s", "pitch_semitones", "tempo_ratio", "score"} <= set(leak["match"])


def test_allow_leaks_with_a_reason_passes_and_records_it_and_fingerprints_are_reused(leaky):
    index, splits, source, copy_id, tmp = leaky
    reason = "copies are deliberate: measuring memorisation"
    audit = audit_training_splits(index, splits, tmp / "cache", tmp / "run", reason)
    assert audit["allowed"] is True and audit["allow_leaks_reason"] == reason and audit["fingerprints"]["computed"] == len(index.items)
    assert json.loads((tmp / "run" / AUDIT_FILE).read_text())["allow_leaks_reason"] == reason
    assert any(copy_id in line and source in line for line in audit["lines"])
    assert list((tmp / "cache" / STORE_FOLDER).glob(f"{FingerprintSettings().key()}.npz"))
    again = audit_training_splits(index, splits, tmp / "cache", tmp / "run2", reason)
    assert again["fingerprints"] == {"reused": len(index.items), "computed": 0}
    assert again["leak_counts"] == audit["leak_counts"]
    with pytest.raises(LeakError):  # a blank reason is no reason
        audit_training_splits(index, splits, tmp / "cache", tmp / "run3", "   ")


def test_a_clean_split_passes_and_a_changed_file_is_fingerprinted_again(leaky):
    index, splits, source, copy_id, tmp = leaky
    for fold in splits.folds:
        for partition in (fold.train, fold.val, fold.test):
            if copy_id in partition:
                partition.remove(copy_id)
    audit = audit_training_splits(index, splits, tmp / "cache", tmp / "run", None)
    assert audit["ok"] is True and audit["allowed"] is False
    path = index.by_id()[source].path
    write_wav(path, melody(99, duration_s=1.5), 16000)
    again = audit_training_splits(index, splits, tmp / "cache", tmp / "run", None)
    assert again["fingerprints"]["computed"] == 1
