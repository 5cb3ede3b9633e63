"""musicnn (MSD) in PyTorch equals the `musicnn==0.1.0` wheel's own TensorFlow outputs.

The reference (inputs as FLAC, the wheel's patches, taggram and per-patch penultimate features) was written
by `scripts/musicnn_reference.py` in a throw-away TensorFlow environment; these tests need neither TF nor
the wheel. Tolerances: the network input is bit-identical (same librosa, same float16 steps); outputs agree
to float32 round-off of different convolution algorithms (observed <= 1e-6 on tags, <= 1e-5 on embeddings).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonolab.audio.musicnn_input import PATCH_FRAMES, musicnn_input
from sonolab.models import musicnn

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "musicnn_reference"
CLIPS = json.loads((REFERENCE / "reference.json").read_text())["clips"]
TAG_ATOL = 1e-5
EMBEDDING_ATOL = 1e-4


def _clip(name: str) -> tuple[np.ndarray, int, dict[str, np.ndarray]]:
    """The clip as the wheel read it (librosa.load: float32, channels averaged) and its reference arrays."""
    audio, sample_rate_hz = sf.read(str(REFERENCE / CLIPS[name]["file"]), dtype="float32", always_2d=True)
    return audio.T.mean(axis=0), sample_rate_hz, dict(np.load(REFERENCE / f"{name}.npz"))


@pytest.mark.parametrize("name", [name for name, clip in CLIPS.items() if clip["wheel_inputs_finite"]])
def test_input_and_outputs_equal_the_wheel(name: str) -> None:
    mono, sample_rate_hz, reference = _clip(name)
    patches = musicnn_input(mono, sample_rate_hz)
    assert patches.shape == reference["patches"].shape == (CLIPS[name]["patches"], PATCH_FRAMES, 96)
    np.testing.assert_array_equal(patches, reference["patches"])
    taggram, embeddings = musicnn.taggram_and_embeddings(mono, sample_rate_hz)
    assert taggram.shape == (CLIPS[name]["patches"], 50) and embeddings.shape == (CLIPS[name]["patches"], musicnn.EMBEDDING_DIM)
    np.testing.assert_allclose(taggram, reference["taggram"], rtol=0, atol=TAG_ATOL)
    np.testing.assert_allclose(embeddings, reference["penultimate"], rtol=0, atol=EMBEDDING_ATOL)
    assert np.std(reference["penultimate"], axis=0).max() > 10 * EMBEDDING_ATOL or len(patches) == 1  # the check can fail


def test_short_clip_is_repeat_padded_and_distinct_patches_differ() -> None:
    mono, sample_rate_hz, _ = _clip("short")
    assert len(mono) < 3 * sample_rate_hz
    patches = musicnn_input(mono, sample_rate_hz)
    assert patches.shape == (1, PATCH_FRAMES, 96)
    frames = int(len(mono) // 256 + 1)
    np.testing.assert_array_equal(patches[0, frames:2 * frames], patches[0, :min(frames, PATCH_FRAMES - frames)])
    _, embeddings = musicnn.taggram_and_embeddings(*_clip("stereo")[:2])
    assert np.abs(embeddings[1] - embeddings[0]).max() > 100 * EMBEDDING_ATOL  # one row per patch (the wheel's extractor repeats row 0)


def test_loud_input_stays_finite_where_the_wheel_overflows() -> None:
    mono, sample_rate_hz, reference = _clip("loud")
    patches = musicnn_input(mono, sample_rate_hz)
    wheel = reference["patches"]
    finite = np.isfinite(wheel)
    assert (~finite).sum() > 100  # the wheel's float16 log10(1 + 10000 x) overflowed here
    np.testing.assert_array_equal(patches[finite], wheel[finite])
    assert np.isfinite(patches).all() and patches[~finite].min() > np.log10(65504.0)
    taggram, embeddings = musicnn.taggram_and_embeddings(mono, sample_rate_hz)
    assert np.isfinite(taggram).all() and np.isfinite(embeddings).all()


def test_batch_norm_in_inference_mode_makes_patches_independent() -> None:
    _, _, reference = _clip("stereo")
    together_tags, together = musicnn.run_patches(reference["patches"])
    alone_tags, alone = musicnn.run_patches(reference["patches"][1:2])
    np.testing.assert_allclose(alone, together[1:2], atol=1e-5)
    np.testing.assert_allclose(alone_tags, together_tags[1:2], atol=1e-6)
    assert not musicnn._default_model().training


def test_tags_weights_and_provenance() -> None:
    assets = Path(musicnn.__file__).resolve().parents[1] / "assets" / "musicnn"
    provenance = json.loads((assets / "provenance.json").read_text())
    assert len(musicnn.MSD_TAGS) == 50 and musicnn.MSD_TAGS[:3] == ["rock", "pop", "alternative"]
    assert {"sad", "happy", "Mellow", "chill"} <= set(musicnn.MSD_TAGS)
    assert provenance["licence"]["name"] == "ISC" and "Pons" in provenance["citation"]
    assert hashlib.sha256((assets / provenance["weights_file"]).read_bytes()).hexdigest() == provenance["weights_sha256"]
    assert provenance["source"]["wheel_sha256"] == json.loads((REFERENCE / "reference.json").read_text())["wheel_sha256"]


def test_patch_count_follows_duration_and_mono_is_required() -> None:
    rng = np.random.default_rng(0)
    thirty_s = (0.01 * rng.standard_normal(30 * 16000)).astype(np.float32)
    assert musicnn_input(thirty_s, 16000).shape[0] == 10  # 1876 frames -> 10 whole 187-frame patches
    assert musicnn_input(thirty_s[: 3 * 16000], 16000).shape[0] == 1
    with pytest.raises(ValueError, match="one-dimensional"):
        musicnn_input(np.zeros((2, 16000), np.float32), 16000)
    from sonolab.models.registry import embedding_extractor

    vectors = embedding_extractor("musicnn")(thirty_s[: 3 * 16000], 16000, None)
    assert vectors.shape == (1, musicnn.EMBEDDING_DIM) and vectors.dtype == np.float32
