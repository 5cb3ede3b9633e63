"""aisfx embedding: sonolab's reimplementation equals the aisfx wheel's own outputs on every stored clip.

The references (`tests/data/aisfx_reference/`) were computed by `scripts/aisfx_reference.py` with the
wheel's code in a throw-away environment (numpy 1.23, librosa 0.9.2); these tests need neither.
Tolerances: inputs within 1e-6 and embeddings within 1e-5 absolute (float32 rounding: numpy 1.23's FFT
ran in float64, numpy 2's runs in float32; measured maxima 1.2e-7 and 1.5e-6; embeddings reach ~10).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sonolab.audio.aisfx_input import aisfx_blocks, aisfx_input, block_starts, mel_filter_bank
from sonolab.audio.io import load_audio
from sonolab.errors import ConfigError
from sonolab.models.aisfx import embed_blocks, embed_clips, load_aisfx_network, pool_mean_max

DATA = Path(__file__).resolve().parents[1] / "data" / "aisfx_reference"
MANIFEST = json.loads((DATA / "reference.json").read_text(encoding="utf-8"))
CLIPS = MANIFEST["clips"]
CONFIGS = {"h50_drop": {"hop_frames": 50, "drop_partial_block": True}, "h100_keep": {"hop_frames": 100, "drop_partial_block": False}}
INPUT_ATOL = 1e-6
EMBEDDING_ATOL = 1e-5


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(DATA / "reference.npz") as archive:
        return {key: archive[key] for key in archive.files}


def _clip(name: str) -> tuple[np.ndarray, int]:
    audio, sample_rate_hz = load_audio(DATA / CLIPS[name]["file"])  # (channels, samples) as stored
    return audio, sample_rate_hz


def _variant(name: str) -> str:
    """The reference that differs from sonolab's default (soxr HQ) by nothing: 'wheel' at 44.1 kHz, else 'soxr'."""
    return "wheel" if CLIPS[name]["sample_rate_hz"] == 44100 else "soxr"


def test_reference_data_covers_the_cases_the_brief_names() -> None:
    rates = {entry["sample_rate_hz"] for entry in CLIPS.values()}
    assert {44100, 48000, 8000} <= rates
    assert any(entry["channels"] == 2 for entry in CLIPS.values())
    frames = [entry["frames"]["wheel"] for entry in CLIPS.values()]
    assert min(frames) < 50 and max(frames) > 150  # a clip the wheel refuses at hop 50, a partial last block
    assert any(entry["wheel_refuses"]["h50_drop"] for entry in CLIPS.values())


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_input_and_embeddings_equal_the_wheel(name: str, reference: dict[str, np.ndarray]) -> None:
    audio, sample_rate_hz = _clip(name)
    variant = _variant(name)
    features = aisfx_input(audio, sample_rate_hz)
    expected_input = reference[f"{name}.{variant}.input"]
    assert features.shape == expected_input.T.shape and features.dtype == np.float32
    np.testing.assert_allclose(features, expected_input.T, rtol=0, atol=INPUT_ATOL)
    for config, options in CONFIGS.items():
        embeddings = embed_blocks(audio, sample_rate_hz, **options)
        expected = reference[f"{name}.{variant}.{config}"]
        assert embeddings.shape == expected.shape and embeddings.dtype == np.float32
        np.testing.assert_allclose(embeddings, expected, rtol=0, atol=EMBEDDING_ATOL)


@pytest.mark.parametrize("name", sorted(n for n, e in CLIPS.items() if e["sample_rate_hz"] != 44100))
def test_kaiser_best_resampler_reproduces_the_wheel_as_shipped(name: str, reference: dict[str, np.ndarray]) -> None:
    pytest.importorskip("resampy")  # in the dev extra; sonolab[aisfx-exact] for users
    audio, sample_rate_hz = _clip(name)
    np.testing.assert_allclose(aisfx_input(audio, sample_rate_hz, resampler="kaiser_best"), reference[f"{name}.wheel.input"].T, rtol=0, atol=INPUT_ATOL)
    embeddings = embed_blocks(audio, sample_rate_hz, resampler="kaiser_best")
    np.testing.assert_allclose(embeddings, reference[f"{name}.wheel.h50_drop"], rtol=0, atol=EMBEDDING_ATOL)
    # the default (soxr HQ) differs from the wheel as shipped only through the resampler, and visibly so
    assert np.abs(aisfx_input(audio, sample_rate_hz) - reference[f"{name}.wheel.input"].T).max() > 1e-3


def test_block_counting_follows_the_wheel() -> None:
    assert block_starts(216) == [0, 50, 100]  # a 5 s clip: frames 200-215 are a partial block, dropped
    assert block_starts(216, drop_partial_block=False) == [0, 50, 100, 150]
    assert block_starts(200) == [0, 50, 100]  # exact fit: nothing dropped
    assert block_starts(13) == [0] and block_starts(13, 100, False) == [0]  # short: one padded block
    assert block_starts(194, 100, True) == [0] and block_starts(194, 100, False) == [0, 100]
    blocks = aisfx_blocks(np.ones((96, 130), np.float32), hop_frames=100, drop_partial_block=False)
    assert blocks.shape == (2, 96, 100)
    assert np.all(blocks[1, :, :30] == 1) and np.all(blocks[1, :, 30:] == 0)  # padded with silence (0)


def test_mel_filters_are_htk_unit_sum_and_a_tone_lands_in_its_band() -> None:
    weights = mel_filter_bank()
    assert weights.shape == (96, 1025)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    sample_rate_hz = 44100
    t = np.arange(sample_rate_hz) / sample_rate_hz
    features = aisfx_input(0.01 * np.sin(2 * np.pi * 3000.0 * t), sample_rate_hz)
    centres_hz = 700.0 * (10 ** (np.linspace(0, 2595 * np.log10(1 + 22050 / 700), 98)[1:-1] / 2595) - 1)  # HTK
    assert abs(centres_hz[int(np.argmax(features[:, 20]))] - 3000.0) < 150.0
    assert features.max() <= 1.0 + 1e-6 and features.min() >= 0.0  # peak-normalised: level does not matter
    np.testing.assert_allclose(aisfx_input(0.5 * np.sin(2 * np.pi * 3000.0 * t), sample_rate_hz), features, atol=1e-6)


def test_batched_clips_equal_one_by_one_and_the_network_is_cached() -> None:
    rng = np.random.default_rng(7)
    clips = [rng.standard_normal(n).astype(np.float32) for n in (20000, 200000)]
    one_by_one = [embed_blocks(clip, 44100, batch_size=1) for clip in clips]
    together = embed_clips(clips, [44100, 44100], batch_size=3)
    assert [e.shape for e in together] == [(1, 512), (2, 512)]
    for a, b in zip(one_by_one, together):
        np.testing.assert_allclose(a, b, rtol=0, atol=EMBEDDING_ATOL)
    network = load_aisfx_network()
    assert network is load_aisfx_network() and not network.training
    assert not any(parameter.requires_grad for parameter in network.parameters())


def test_bad_input_raises_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="empty"):
        embed_blocks(np.zeros(0, np.float32), 44100)
    with pytest.raises(ConfigError, match="NaN"):
        embed_blocks(np.array([0.0, np.nan], np.float32), 44100)
    with pytest.raises(ConfigError, match="resampler"):
        aisfx_input(np.ones(100, np.float32), 16000, resampler="fast")
    with pytest.raises(ConfigError, match="96"):
        load_aisfx_network()(torch.zeros(1, 1, 64, 100))


def test_shipped_weights_match_their_provenance_and_the_network() -> None:
    import hashlib

    from safetensors import safe_open

    from sonolab.models.aisfx import ASSET_DIR, WEIGHTS_PATH, AisfxEmbeddingNet

    provenance = json.loads((ASSET_DIR / "aisfx_embedding.json").read_text(encoding="utf-8"))
    assert hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest() == provenance["weights_sha256"]
    assert provenance["wheel"] == "aisfx-0.1.2-py2.py3-none-any.whl" and "CC BY 4.0" in provenance["licence"]
    assert "ESC" not in " ".join(provenance["training_datasets"])
    with safe_open(str(WEIGHTS_PATH), framework="pt") as weights:
        shapes = {name: list(weights.get_slice(name).get_shape()) for name in weights.keys()}
    assert shapes == provenance["tensors"]
    expected = {name: list(value.shape) for name, value in AisfxEmbeddingNet().state_dict().items() if not name.endswith("num_batches_tracked")}
    assert shapes == expected
    assert WEIGHTS_PATH.stat().st_size < 20e6  # the package stays small


def test_pooling_is_mean_then_max_over_blocks() -> None:
    blocks = np.array([[1.0, -2.0], [3.0, 0.0]], np.float32)
    np.testing.assert_array_equal(pool_mean_max(blocks), [2.0, -1.0, 3.0, 0.0])
    with pytest.raises(ConfigError, match="n_blocks"):
        pool_mean_max(np.zeros((0, 512)))
