"""Feature kinds: settings round trips, functionals physics and robustness, openSMILE, aisfx pooling."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from sonolab.audio.features import FeatureSettings, log_mel_re_unity
from sonolab.errors import ConfigError
from sonolab.features import extract, kind_of, settings_from_dict
from sonolab.features import functionals
from sonolab.features.aisfx import pool_blocks
from sonolab.features.logmel import log_mel_re_unity_batch_cpu
from sonolab.features.pooling import clip_matrix, clip_vector

SR = 16000


def _tone(frequency_hz: float, duration_s: float = 0.6, harmonics: int = 5, sample_rate_hz: int = SR) -> np.ndarray:
    time_s = np.arange(int(duration_s * sample_rate_hz)) / sample_rate_hz
    signal = sum(np.sin(2 * np.pi * frequency_hz * k * time_s) / k for k in range(1, harmonics + 1))
    return (0.3 * signal / np.max(np.abs(signal))).astype(np.float32)


@pytest.mark.parametrize("kind", ["logmel", "aisfx", "functionals", "opensmile"])
def test_settings_round_trip_refuse_unknown_keys_and_fingerprint_the_settings(kind):
    settings = settings_from_dict(kind, {})
    assert kind_of(settings) == kind
    again = type(settings).from_dict(settings.to_dict())
    assert again == settings and again.cache_fingerprint() == settings.cache_fingerprint()
    with pytest.raises(ConfigError, match="n_mfccs"):
        settings_from_dict(kind, {"n_mfccs": 3})
    with pytest.raises(ConfigError, match="unknown feature kind"):
        settings_from_dict("mfcc_magic", {})


def test_fingerprints_differ_between_settings_and_kinds():
    prints = {
        settings_from_dict("functionals", {}).cache_fingerprint(),
        settings_from_dict("functionals", {"f0": False}).cache_fingerprint(),
        settings_from_dict("opensmile", {"feature_set": "eGeMAPSv02"}).cache_fingerprint(),
        settings_from_dict("opensmile", {}).cache_fingerprint(),
        settings_from_dict("aisfx", {"pooling": "mean"}).cache_fingerprint(),
        settings_from_dict("aisfx", {}).cache_fingerprint(),
    }
    assert len(prints) == 6
    assert settings_from_dict("aisfx", {"batch_size": 4}).cache_fingerprint() == settings_from_dict("aisfx", {}).cache_fingerprint()


@pytest.mark.filterwarnings("ignore:n_fft=.*is too large")  # librosa's reference on clips shorter than n_fft
def test_batched_cpu_log_mels_equal_librosa():
    settings = FeatureSettings(sample_rate_hz=8000, n_fft=512, hop_length_samples=128, win_length_samples=400, n_mels=40)
    rng = np.random.default_rng(0)
    waveforms = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (50, 511, 4000, 9001)]
    waveforms.append(_tone(440.0, 0.5, sample_rate_hz=8000))
    for waveform, batched in zip(waveforms, log_mel_re_unity_batch_cpu(waveforms, settings, batch_size=3)):
        reference = log_mel_re_unity(waveform, 8000, settings)
        assert batched.shape == reference.shape and batched.dtype == np.float32
        np.testing.assert_allclose(batched, reference, atol=1e-3)
    frames_by_mels = extract(waveforms[2], 8000, settings)
    assert frames_by_mels.shape == (1 + 4000 // 128, 40)


def test_functionals_measure_pitch_and_voicing():
    settings = functionals.Settings()
    names = functionals.feature_names(settings)
    tone = extract(_tone(220.0), SR, settings)[0]
    noise = extract((0.1 * np.random.default_rng(1).standard_normal(int(0.6 * SR))).astype(np.float32), SR, settings)[0]
    assert tone.shape == noise.shape == (len(names),)
    column = {name: index for index, name in enumerate(names)}
    expected_semitones = 12 * np.log2(220.0 / 27.5)  # 36
    assert tone[column["f0_semitones_voiced_p50"]] == pytest.approx(expected_semitones, abs=0.5)
    assert tone[column["voiced_fraction"]] > 0.8 > 0.2 > noise[column["voiced_fraction"]]
    # white noise is flat, a harmonic tone is not; the tone's centroid sits far below the noise's
    assert noise[column["spectral_flatness_mean"]] > 10 * tone[column["spectral_flatness_mean"]]
    assert tone[column["spectral_centroid_hz_mean"]] < 0.5 * noise[column["spectral_centroid_hz_mean"]]


def test_functionals_slope_follows_a_rising_level():
    settings = functionals.Settings(f0=False)
    time_s = np.arange(SR) / SR
    rising = (np.sin(2 * np.pi * 500 * time_s) * np.linspace(0.01, 0.5, SR)).astype(np.float32)
    values = extract(rising, SR, settings)[0]
    column = {name: index for index, name in enumerate(functionals.feature_names(settings))}
    # 20*log10(0.5/0.01) = 34 dB over one second; the regression slope sees most of it
    assert 20.0 < values[column["energy_db_slope_per_s"]] < 45.0
    assert values.shape == (len(functionals.feature_names(settings)),)


@pytest.mark.parametrize("waveform", [np.zeros(SR, np.float32), np.zeros(10, np.float32), _tone(300.0, 0.01)])
def test_functionals_are_finite_on_silence_and_very_short_clips(waveform):
    settings = functionals.Settings()
    values = extract(waveform, SR, settings)
    assert values.shape == (1, len(functionals.feature_names(settings))) and np.all(np.isfinite(values))


def test_functionals_resample_other_rates_and_refuse_impossible_settings():
    settings = functionals.Settings(f0=False)
    at_8k = extract(_tone(220.0, sample_rate_hz=8000), 8000, settings)
    assert at_8k.shape == (1, len(functionals.feature_names(settings)))
    with pytest.raises(ConfigError, match="contrast"):
        functionals.Settings(sample_rate_hz=8000)


def test_opensmile_egemaps_gives_88_finite_functionals():
    pytest.importorskip("opensmile")
    settings = settings_from_dict("opensmile", {"feature_set": "eGeMAPSv02"})
    values = extract(_tone(180.0, 1.0), SR, settings)
    assert values.shape == (1, 88) and values.dtype == np.float32 and np.all(np.isfinite(values))


def test_opensmile_missing_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "opensmile", None)  # import opensmile now raises ImportError
    settings = settings_from_dict("opensmile", {})
    with pytest.raises(ConfigError, match=r"pip install 'sonolab\[opensmile\]'"):
        extract(_tone(180.0), SR, settings)


def test_aisfx_pooling_and_injected_embedder():
    from sonolab.features import aisfx

    blocks = np.arange(3 * 512, dtype=np.float32).reshape(3, 512)
    assert pool_blocks(blocks, "mean_max").shape == (1, 1024)
    np.testing.assert_array_equal(pool_blocks(blocks, "mean_max")[0, 512:], blocks[2])
    np.testing.assert_array_equal(pool_blocks(blocks, "mean")[0], blocks.mean(axis=0))
    assert pool_blocks(blocks, "sequence").shape == (3, 512)
    seen = {}

    def embedder(waveform, sample_rate_hz, batch_size):
        seen.update(rate=sample_rate_hz, samples=waveform.size, batch=batch_size)
        return np.ones((1 + waveform.size // 102400, 512), np.float32)

    out = aisfx.extract(_tone(440.0, 3.0), SR, aisfx.Settings(pooling="sequence", batch_size=7), embed_blocks=embedder)
    assert seen == {"rate": 44100, "samples": 3 * 44100, "batch": 7} and out.shape == (2, 512)
    with pytest.raises(ConfigError, match="pooling"):
        aisfx.Settings(pooling="median")


def test_clip_vector_pools_and_clip_matrix_stacks():
    vectors = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
    np.testing.assert_array_equal(clip_vector(vectors), [2.0, 4.0])
    np.testing.assert_array_equal(clip_vector(vectors, "mean_max"), [2.0, 4.0, 3.0, 6.0])
    np.testing.assert_array_equal(clip_vector(vectors, "mean_std"), [2.0, 4.0, 1.0, 2.0])
    np.testing.assert_array_equal(clip_vector(vectors[:1]), [1.0, 2.0])
    with pytest.raises(ValueError, match="exactly one"):
        clip_vector(vectors, "single")
    with pytest.raises(ConfigError, match="unknown clip pooling"):
        clip_vector(vectors, "median")
    table = {"a": vectors, "b": vectors[:1]}
    np.testing.assert_array_equal(clip_matrix(table.__getitem__, ["b", "a"]), [[1.0, 2.0], [2.0, 4.0]])


def test_opensmile_refuses_to_return_nan_for_a_too_short_clip():
    pytest.importorskip("opensmile")
    settings = settings_from_dict("opensmile", {"feature_set": "eGeMAPSv02"})
    with pytest.raises(ValueError, match="too short"):
        extract(np.zeros(10, np.float32), SR, settings)
