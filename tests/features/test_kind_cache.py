"""One memory-mapped cache for every kind: vectors by id without copies, failures listed, keyed by kind."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from dataset_fixtures import make_folder_tree, write_bad_files  # noqa: E402

import sonolab.data.cache as cache_module  # noqa: E402
from sonolab.audio.io import audio_info_frames, load_audio  # noqa: E402
from sonolab.data.cache import VectorCache, build_feature_cache, cache_dir_for, open_feature_cache  # noqa: E402
from sonolab.data.registry import load_dataset  # noqa: E402
from sonolab.errors import ConfigError, DatasetError  # noqa: E402
from sonolab.features import aisfx, extract, functionals, settings_from_dict  # noqa: E402

FUNCTIONALS = functionals.Settings(f0=False)


@pytest.fixture()
def index(tmp_path):
    root = make_folder_tree(tmp_path / "data", classes=("cat", "dog"), per_class=3)
    write_bad_files(root / "dog")
    return load_dataset("folder", root)


def test_functionals_cache_holds_each_clip_vector_as_a_memory_mapped_view(index, tmp_path):
    result = build_feature_cache(index.items, FUNCTIONALS, tmp_path / "cache", workers=1, progress=False)
    assert result.rebuilt and result.cached_count == 6
    assert sorted(p.item_id for p in result.failures) == ["dog/corrupt", "dog/empty", "dog/nan"]
    assert json.loads((tmp_path / "cache" / "manifest.json").read_text())["kind"] == "functionals"
    cache = open_feature_cache(tmp_path / "cache", FUNCTIONALS)
    assert isinstance(cache, VectorCache) and cache.dim == len(functionals.feature_names(FUNCTIONALS))
    item = index.by_id()["cat/cat_01"]
    audio, rate_hz = load_audio(item.path, target_sample_rate_hz=FUNCTIONALS.sample_rate_hz, mono=True)
    view = cache.view("cat/cat_01")
    assert view.shape == (1, cache.dim) and np.shares_memory(view, cache._values)  # a view into the memory map
    assert not view.flags.writeable
    np.testing.assert_allclose(view, extract(audio[0], rate_hz, FUNCTIONALS), rtol=1e-5, atol=1e-5)
    matrix = cache.clip_matrix(["cat/cat_01", "cat/cat_00"])
    assert matrix.shape == (2, cache.dim)
    np.testing.assert_array_equal(matrix[0], view[0])
    with pytest.raises(KeyError, match="failures.json"):
        cache.view("dog/nan")


def test_parallel_workers_give_the_same_cache(index, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "MIN_FILES_PER_WORKER", 1)
    monkeypatch.setattr(cache_module, "CHUNK_FILES", 2)
    serial = build_feature_cache(index.items, FUNCTIONALS, tmp_path / "serial", workers=1, progress=False)
    parallel = build_feature_cache(index.items, FUNCTIONALS, tmp_path / "parallel", workers=2, progress=False)
    assert serial.cached_count == parallel.cached_count == 6
    a, b = open_feature_cache(tmp_path / "serial", FUNCTIONALS), open_feature_cache(tmp_path / "parallel", FUNCTIONALS)
    assert a.item_ids == b.item_ids and all(np.array_equal(a.view(i), b.view(i)) for i in a.item_ids)


def test_kind_or_settings_change_rebuilds_and_a_mismatched_open_is_refused(index, tmp_path):
    good = [item for item in index.items if item.item_id.startswith("cat/")]
    cache_dir = tmp_path / "cache"
    build_feature_cache(good, FUNCTIONALS, cache_dir, workers=1, progress=False)
    assert not build_feature_cache(good, FUNCTIONALS, cache_dir, workers=1, progress=False).rebuilt
    with pytest.raises(DatasetError, match="feature kind changed"):
        open_feature_cache(cache_dir, settings_from_dict("opensmile", {}))
    other = functionals.Settings(f0=False, n_mfcc=8)
    assert cache_dir_for(tmp_path, other) != cache_dir_for(tmp_path, FUNCTIONALS)
    assert cache_dir_for(tmp_path, other).name.startswith("functionals-")
    rebuilt = build_feature_cache(good, other, cache_dir, workers=1, progress=False)
    assert rebuilt.rebuilt and "settings changed" in rebuilt.reason
    assert open_feature_cache(cache_dir, other).dim == len(functionals.feature_names(other))
    with pytest.raises(ConfigError, match="FeatureCache"):
        VectorCache.open(cache_dir, settings_from_dict("logmel", {}))


def test_aisfx_kind_decodes_at_44k_and_pools_in_the_main_process(index, tmp_path, monkeypatch):
    calls = []

    def embedder(waveform, sample_rate_hz, batch_size):
        calls.append((sample_rate_hz, waveform.size))
        blocks = 1 + waveform.size // 4410
        return np.stack([np.full(512, float(b), np.float32) for b in range(blocks)])

    monkeypatch.setattr(aisfx, "_default_embedder", lambda: embedder)
    good = [item for item in index.items if item.item_id.startswith("cat/")]
    for pooling, shape in (("mean_max", (1, 1024)), ("sequence", None)):
        settings = aisfx.Settings(pooling=pooling)
        build_feature_cache(good, settings, tmp_path / pooling, workers=1, progress=False)
        cache = open_feature_cache(tmp_path / pooling, settings)
        view = cache.view(good[0].item_id)
        frames, rate_hz, _ = audio_info_frames(good[0].path)
        blocks = 1 + int(round(frames * 44100 / rate_hz)) // 4410
        assert view.shape == (shape or (blocks, 512))
        if pooling == "mean_max":
            assert view[0, 0] == pytest.approx((blocks - 1) / 2) and view[0, 512] == blocks - 1
    assert all(rate == 44100 for rate, _ in calls)


def test_missing_opensmile_fails_before_any_work(index, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "opensmile", None)
    with pytest.raises(ConfigError, match="sonolab\\[opensmile\\]"):
        build_feature_cache(index.items, settings_from_dict("opensmile", {}), tmp_path / "cache", workers=1, progress=False)
    assert not (tmp_path / "cache").exists()


def test_aisfx_without_its_network_module_is_a_config_error(index, tmp_path, monkeypatch):
    def missing():
        raise ModuleNotFoundError("No module named 'sonolab.models.aisfx'")

    monkeypatch.setattr(aisfx, "_default_embedder", missing)
    with pytest.raises(ConfigError, match="aisfx"):
        build_feature_cache(index.items, aisfx.Settings(), tmp_path / "cache", workers=1, progress=False)
