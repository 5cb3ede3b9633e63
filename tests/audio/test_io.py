"""Audio loading: channels-first float32, resampling that keeps pitch, explicit mono, typed errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonolab.audio.io import load_audio, resample, save_audio, to_mono
from sonolab.errors import AudioLoadError, SonolabError


def _tone(frequency_hz: float, sample_rate_hz: int, duration_s: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    time_s = np.arange(int(sample_rate_hz * duration_s)) / sample_rate_hz
    return (amplitude * np.sin(2 * np.pi * frequency_hz * time_s)).astype(np.float32)


def _dominant_frequency_hz(signal: np.ndarray, sample_rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
    return float(np.fft.rfftfreq(signal.size, 1 / sample_rate_hz)[np.argmax(spectrum)])


def test_load_returns_channels_first_float32_with_sample_rate(tmp_path: Path) -> None:
    stereo = np.stack([_tone(440, 16000), _tone(880, 16000)])
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo.T, 16000, subtype="PCM_16")
    audio, sample_rate_hz = load_audio(path)
    assert sample_rate_hz == 16000
    assert audio.dtype == np.float32 and audio.shape == (2, 16000)
    np.testing.assert_allclose(audio, stereo, atol=1e-4)


@pytest.mark.parametrize("suffix", [".flac", ".ogg", ".mp3"])
def test_load_compressed_formats(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tone{suffix}"
    sf.write(path, _tone(1000, 44100), 44100)
    audio, sample_rate_hz = load_audio(path, mono=True)
    assert sample_rate_hz == 44100 and audio.shape[0] == 1
    assert abs(_dominant_frequency_hz(audio[0, 4410:-4410], 44100) - 1000) < 5


def test_resampling_44k_to_22k_keeps_a_1khz_tone_at_1khz(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(1000, 44100), 44100, subtype="FLOAT")
    audio, sample_rate_hz = load_audio(path, target_sample_rate_hz=22050)
    assert sample_rate_hz == 22050
    assert audio.shape[1] == 22050
    assert abs(_dominant_frequency_hz(audio[0], 22050) - 1000.0) < 2.0
    # The tone keeps its level through the resampler (no gain error).
    assert np.sqrt(np.mean(audio[0, 1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resample_is_identity_at_equal_rates() -> None:
    audio = _tone(300, 8000)[None]
    assert resample(audio, 8000, 8000) is not None
    np.testing.assert_array_equal(resample(audio, 8000, 8000), audio)


def test_stereo_to_mono_is_explicit_and_averages_channels(tmp_path: Path) -> None:
    left, right = _tone(440, 8000), -0.5 * _tone(440, 8000)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right]).T, 8000, subtype="FLOAT")
    kept, _ = load_audio(path)
    assert kept.shape[0] == 2  # no silent down-mix
    mono, _ = load_audio(path, mono=True)
    assert mono.shape == (1, 8000)
    np.testing.assert_allclose(mono[0], (left + right) / 2, atol=1e-6)
    np.testing.assert_allclose(to_mono(np.stack([left, right])), mono, atol=1e-7)


def test_save_audio_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    audio = np.stack([_tone(440, 16000), _tone(660, 16000)])
    path = save_audio(tmp_path / "out.flac", audio, 16000)
    loaded, sample_rate_hz = load_audio(path)
    assert sample_rate_hz == 16000
    np.testing.assert_allclose(loaded, audio, atol=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["out.flac"]


def _assert_typed_error_naming(path: Path, reason_fragment: str) -> None:
    with pytest.raises(AudioLoadError) as caught:
        load_audio(path)
    assert isinstance(caught.value, SonolabError)
    assert str(path) in str(caught.value)
    assert caught.value.path == path
    assert reason_fragment in caught.value.reason


def test_corrupt_file_raises_typed_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"this is not audio at all" * 20)
    _assert_typed_error_naming(path, "unreadable")


def test_zero_byte_file_raises_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    _assert_typed_error_naming(path, "empty")


def test_zero_sample_file_raises_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "nosamples.wav"
    sf.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    _assert_typed_error_naming(path, "0 samples")


def test_nan_filled_file_raises_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    samples = _tone(440, 16000)
    samples[100:200] = np.nan
    sf.write(path, samples, 16000, subtype="FLOAT")
    _assert_typed_error_naming(path, "non-finite")


def test_truncated_wav_raises_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "truncated.wav"
    sf.write(path, _tone(440, 16000), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # header still declares the full length
    _assert_typed_error_naming(path, "truncated")


def test_missing_file_raises_typed_error(tmp_path: Path) -> None:
    _assert_typed_error_naming(tmp_path / "absent.wav", "not found")
