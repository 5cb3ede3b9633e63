"""Feature cache: correct matrices, failures listed, settings-keyed, corruption detected and rebuilt."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dataset_fixtures import make_folder_tree, write_bad_files

from sonolab.audio.features import FeatureSettings, log_mel_re_unity
from sonolab.features.logmel import log_mel_re_unity_batch_cpu as log_mel_re_unity_batch
from sonolab.audio.io import load_audio
from sonolab.data.cache import FeatureCache, build_feature_cache, dataset_max_reference
from sonolab.data.registry import load_dataset
from sonolab.errors import DatasetError

SETTINGS = FeatureSettings(sample_rate_hz=8000, n_fft=256, hop_length_samples=128, n_mels=32)


@pytest.fixture()
def index(tmp_path):
    root = make_folder_tree(tmp_path / "data", classes=("cat", "dog"), per_class=4)
    write_bad_files(root / "dog")
    return load_dataset("folder", root)


def test_cache_holds_the_same_matrices_and_lists_every_failed_file(index, tmp_path):
    result = build_feature_cache(index.items, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    assert result.rebuilt and result.cached_count == 8
    assert sorted(p.item_id for p in result.failures) == ["dog/corrupt", "dog/empty", "dog/nan"]
    listed = json.loads((tmp_path / "cache" / "failures.json").read_text())
    assert sorted(entry["item_id"] for entry in listed) == ["dog/corrupt", "dog/empty", "dog/nan"]
    cache = FeatureCache.open(tmp_path / "cache", SETTINGS)
    assert "dog/nan" not in cache and "cat/cat_00" in cache and len(cache.failures) == 3
    item = index.by_id()["cat/cat_02"]
    audio, sample_rate_hz = load_audio(item.path, target_sample_rate_hz=8000, mono=True)
    stored = cache.get("cat/cat_02")
    batch = log_mel_re_unity_batch([audio[0]], SETTINGS)[0]  # what the cache computes with
    assert stored.dtype == np.float32 and stored.shape == batch.shape and stored.shape[0] == 32
    np.testing.assert_allclose(stored, batch, atol=1e-4)
    librosa_db = log_mel_re_unity(audio[0], sample_rate_hz, SETTINGS)  # and it is the documented log-mel
    above_floor = librosa_db > -90.0
    assert above_floor.mean() > 0.5
    np.testing.assert_allclose(stored[above_floor], librosa_db[above_floor], atol=0.01)


def test_valid_cache_is_reused_and_changed_settings_rebuild_it(index, tmp_path):
    good = [item for item in index.items if "cat" in item.item_id]
    build_feature_cache(good, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    again = build_feature_cache(good, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    assert not again.rebuilt
    # the reference is applied on read, so changing it keeps the cache
    assert not build_feature_cache(good, SETTINGS.with_updates(db_reference="per_clip_max"), tmp_path / "cache", workers=1, progress=False).rebuilt
    changed = SETTINGS.with_updates(n_mels=16)
    result = build_feature_cache(good, changed, tmp_path / "cache", workers=1, progress=False)
    assert result.rebuilt and "settings changed" in result.reason
    assert FeatureCache.open(tmp_path / "cache", changed).get(good[0].item_id).shape[0] == 16
    with pytest.raises(DatasetError, match="settings changed"):
        FeatureCache.open(tmp_path / "cache", SETTINGS)
    assert build_feature_cache(good[:2], changed, tmp_path / "cache", workers=1, progress=False).rebuilt  # other items


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "no_manifest", "missing_index"])
def test_corrupt_or_partial_cache_is_detected_and_rebuilt(index, tmp_path, damage):
    good = [item for item in index.items if "cat" in item.item_id]
    cache_dir = tmp_path / "cache"
    build_feature_cache(good, SETTINGS, cache_dir, workers=1, progress=False)
    reference = FeatureCache.open(cache_dir, SETTINGS).get(good[1].item_id)
    features = cache_dir / "features.f32"
    if damage == "flip_byte":
        data = bytearray(features.read_bytes())
        data[len(data) // 2] ^= 0xFF
        features.write_bytes(bytes(data))
    elif damage == "truncate":
        features.write_bytes(features.read_bytes()[:-100])
    elif damage == "no_manifest":
        (cache_dir / "manifest.json").unlink()
    else:
        (cache_dir / "index.json").unlink()
    with pytest.raises(DatasetError, match="unusable"):
        FeatureCache.open(cache_dir, SETTINGS)
    result = build_feature_cache(good, SETTINGS, cache_dir, workers=1, progress=False)
    assert result.rebuilt
    np.testing.assert_array_equal(FeatureCache.open(cache_dir, SETTINGS).get(good[1].item_id), reference)


def test_parallel_build_matches_and_refuses_to_overwrite_other_folders(index, tmp_path, monkeypatch):
    import sonolab.data.cache as cache_module

    monkeypatch.setattr(cache_module, "MIN_FILES_PER_WORKER", 1)  # use workers even for this tiny set
    monkeypatch.setattr(cache_module, "CHUNK_FILES", 3)  # several chunks, out-of-order completion possible
    serial = build_feature_cache(index.items, SETTINGS, tmp_path / "serial", workers=1, progress=False)
    parallel = build_feature_cache(index.items, SETTINGS, tmp_path / "parallel", workers=2, progress=False)
    assert serial.cached_count == parallel.cached_count == 8 and len(parallel.failures) == 3
    a, b = FeatureCache.open(tmp_path / "serial", SETTINGS), FeatureCache.open(tmp_path / "parallel", SETTINGS)
    assert a.item_ids == b.item_ids and all(np.array_equal(a.get(i), b.get(i)) for i in a.item_ids)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "thesis.tex").write_text("precious")
    with pytest.raises(DatasetError, match="not a sonolab feature cache"):
        build_feature_cache(index.items, SETTINGS, tmp_path / "user", workers=1, progress=False)
    assert (tmp_path / "user" / "thesis.tex").read_text() == "precious"


def test_dataset_max_reference_uses_only_the_training_ids(index, tmp_path):
    build_feature_cache(index.items, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    cache = FeatureCache.open(tmp_path / "cache", SETTINGS)
    train = ["cat/cat_00", "cat/cat_01", "dog/nan"]  # a failed id is skipped
    expected_db = max(float(cache.get(i).max()) for i in train[:2])
    value = dataset_max_reference(cache, train, SETTINGS)
    assert 10 * np.log10(value) == pytest.approx(expected_db, abs=1e-3)
    everything = dataset_max_reference(cache, cache.item_ids, SETTINGS)
    assert everything >= value
