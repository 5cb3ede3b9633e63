"""Applying EQ to audio: spectral direction, loudness within 0.5 LU, true peak under the ceiling,
transparent when nothing needs limiting, identical in blocks, container and sample format kept."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from sonolab.audio.eq import EqSetting
from sonolab.audio.io import load_audio, save_audio
from sonolab.audio.loudness import integrated_loudness_lufs
from sonolab.semantic_eq.apply import ApplyOptions, apply_to_file, apply_to_folder, process_audio
from sonolab.semantic_eq.default import load_eq_model
from sonolab.semantic_eq.demo import pink_noise, run_eq_demo, spectral_centroid_hz
from sonolab.semantic_eq.material import mastered_pink_noise, song_like_mix

SAMPLE_RATE_HZ = 44100
TREBLE_BOOST = EqSetting(high_shelf_gain_db=6.0, high_shelf_cutoff_hz=3000.0)


def _true_peak_dbtp(audio: np.ndarray, oversampling: int = 4) -> float:
    """Independent check: scipy's polyphase resampler (BS.1770-4 true peak is 4x oversampled)."""
    return float(20 * np.log10(np.max(np.abs(signal.resample_poly(np.asarray(audio, dtype=np.float64), oversampling, 1, axis=-1)))))


def _loudness(audio: np.ndarray) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(SAMPLE_RATE_HZ).integrated_loudness(np.asarray(audio, dtype=np.float64).T))


def _full_scale_pink(seconds: float = 4.0, seed: int = 4) -> np.ndarray:
    noise = pink_noise(seconds, SAMPLE_RATE_HZ, channels=2, seed=seed)
    return (noise / np.max(np.abs(noise))).astype(np.float32)  # sample peak exactly 0 dBFS


@pytest.fixture(scope="module")
def model():
    return load_eq_model()


def test_treble_boost_at_full_scale_stays_loudness_matched_and_under_minus_1_dbtp() -> None:
    audio = mastered_pink_noise(3.0, SAMPLE_RATE_HZ, seed=2)  # compressed, sample peaks at 0 dBFS
    assert np.max(np.abs(audio)) == pytest.approx(1.0) and _true_peak_dbtp(audio) > 0.0
    output, report = process_audio(audio, SAMPLE_RATE_HZ, TREBLE_BOOST)
    assert abs(_loudness(output) - _loudness(audio)) <= 0.5
    assert _true_peak_dbtp(output) <= -1.0
    assert report.limiting_max_db > 0.0 and report.limiting_s > 0.0  # it had to limit, and says so
    assert report.output_true_peak_dbtp <= -1.0 and abs(report.loudness_change_lu) <= 0.5
    # without the limiter the ceiling is kept by lowering the whole gain: the output is quieter
    quieter, plain = process_audio(audio, SAMPLE_RATE_HZ, TREBLE_BOOST, ApplyOptions(limiter=False))
    assert _true_peak_dbtp(quieter) <= -1.0 + 1e-6
    assert plain.peak_gain_cut_db > 0.5 and _loudness(quieter) < _loudness(audio) - 0.5


def test_limiter_is_transparent_when_nothing_needs_limiting() -> None:
    audio = (0.1 * _full_scale_pink(seed=5)).astype(np.float32)  # peaks at -20 dBFS
    limited, report = process_audio(audio, SAMPLE_RATE_HZ, TREBLE_BOOST)
    gain_matched, _ = process_audio(audio, SAMPLE_RATE_HZ, TREBLE_BOOST, ApplyOptions(limiter=False))
    np.testing.assert_array_equal(limited, gain_matched)
    assert report.limiting_max_db == 0.0 and report.passes == 1


@pytest.mark.parametrize("term", ["bright", "warm"])
def test_mastered_song_like_mix_is_matched_limited_and_moves_the_centroid(model, term: str) -> None:
    audio = song_like_mix(3.0, SAMPLE_RATE_HZ, seed=1)
    assert _true_peak_dbtp(audio) > 0.0 and _loudness(audio) > -11.0  # loud, overs between samples
    output, report = process_audio(audio, SAMPLE_RATE_HZ, model.generate(term))
    assert abs(_loudness(output) - _loudness(audio)) <= 0.5, report.to_dict()
    assert _true_peak_dbtp(output) <= -1.0
    assert _true_peak_dbtp(output, 16) <= -1.0  # a finer meter than BS.1770's 4x reads no over either
    change_hz = spectral_centroid_hz(output, SAMPLE_RATE_HZ) - spectral_centroid_hz(audio, SAMPLE_RATE_HZ)
    assert change_hz > 0 if term == "bright" else change_hz < 0


def test_block_processing_equals_one_shot_in_memory_and_on_files(tmp_path: Path) -> None:
    audio = _full_scale_pink(3.0, seed=6)
    one_shot, report = process_audio(audio, SAMPLE_RATE_HZ, TREBLE_BOOST)
    blocks, block_report = process_audio(audio, SAMPLE_RATE_HZ, TREBLE_BOOST, block_frames=4099)
    np.testing.assert_array_equal(blocks, one_shot)
    assert block_report.makeup_gain_db == pytest.approx(report.makeup_gain_db, abs=1e-9)
    source = tmp_path / "in.wav"
    sf.write(str(source), audio.T, SAMPLE_RATE_HZ, subtype="FLOAT")
    apply_to_file(source, tmp_path / "whole.wav", TREBLE_BOOST)
    streamed = apply_to_file(source, tmp_path / "blocks.wav", TREBLE_BOOST, block_frames=10007)
    assert any("blocks" in note for note in streamed.notes)
    np.testing.assert_array_equal(sf.read(str(tmp_path / "blocks.wav"))[0], sf.read(str(tmp_path / "whole.wav"))[0])


def test_wavex_with_its_channel_mask_and_24_bit_flac_keep_their_format(tmp_path: Path) -> None:
    from sonolab.audio.wavex import read_channel_mask, write_channel_mask

    audio = (0.5 * _full_scale_pink(2.0, seed=7)).T
    wavex, flac = tmp_path / "in.wav", tmp_path / "in.flac"
    sf.write(str(wavex), audio, SAMPLE_RATE_HZ, subtype="PCM_24", format="WAVEX")
    assert write_channel_mask(wavex, 0x600)  # side left + side right instead of libsndfile's front pair
    sf.write(str(flac), audio, SAMPLE_RATE_HZ, subtype="PCM_24")
    apply_to_file(wavex, tmp_path / "out.wav", TREBLE_BOOST)
    apply_to_file(flac, tmp_path / "out.flac", TREBLE_BOOST)
    wav_info, flac_info = sf.info(str(tmp_path / "out.wav")), sf.info(str(tmp_path / "out.flac"))
    assert (wav_info.format, wav_info.subtype, wav_info.samplerate, wav_info.channels) == ("WAVEX", "PCM_24", SAMPLE_RATE_HZ, 2)
    assert read_channel_mask(tmp_path / "out.wav") == 0x600
    assert (flac_info.format, flac_info.subtype) == ("FLAC", "PCM_24")


@pytest.mark.parametrize(("sample_rate_hz", "channels", "subtype"), [(48000, 2, "PCM_24"), (16000, 1, "PCM_16")])
def test_apply_keeps_format_and_matches_loudness_within_half_an_lu(tmp_path: Path, model, sample_rate_hz: int, channels: int, subtype: str) -> None:
    source = tmp_path / "in.wav"
    save_audio(source, pink_noise(3.0, sample_rate_hz, channels, seed=4), sample_rate_hz, subtype=subtype)
    target = tmp_path / "out.wav"
    report = apply_to_file(source, target, model.generate("bright"))
    info = sf.info(str(target))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (sample_rate_hz, channels, subtype, "WAV")
    original, _ = load_audio(source)
    processed, _ = load_audio(target)
    assert abs(integrated_loudness_lufs(processed, sample_rate_hz) - integrated_loudness_lufs(original, sample_rate_hz)) < 0.5
    assert report.makeup_gain_db != 0.0  # the EQ changed the level, the matching undid it
    if sample_rate_hz == 16000:
        assert any("clamped" in note for note in report.notes) or model.generate("bright").high_shelf_cutoff_hz <= 7840


def test_without_loudness_match_the_level_change_is_kept(model) -> None:
    noise = pink_noise(2.0, SAMPLE_RATE_HZ)
    _, report = process_audio(noise, SAMPLE_RATE_HZ, model.generate("bright"), ApplyOptions(loudness_match=False))
    assert report.makeup_gain_db == 0.0 and report.input_loudness_lufs is None


def test_folder_apply_lists_failures_and_writes_the_csv_report(tmp_path: Path) -> None:
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    sf.write(str(source / "a.wav"), mastered_pink_noise(1.0, SAMPLE_RATE_HZ, seed=8).T, SAMPLE_RATE_HZ, subtype="PCM_16")
    sf.write(str(source / "sub" / "b.flac"), (0.3 * _full_scale_pink(1.0, seed=9)).T, SAMPLE_RATE_HZ, subtype="PCM_24")
    (source / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    seen: list[str] = []
    rows = apply_to_folder(source, tmp_path / "out", TREBLE_BOOST, workers=2, on_file=lambda row: seen.append(row["input"]))
    assert len(rows) == len(seen) == 3
    by_name = {Path(row["input"]).name: row for row in rows}
    assert by_name["broken.wav"]["status"] == "failed" and "broken.wav" in by_name["broken.wav"]["error"]
    assert (tmp_path / "out" / "a.wav").is_file() and (tmp_path / "out" / "sub" / "b.flac").is_file()
    with open(tmp_path / "out" / "eq_report.csv", newline="") as handle:
        report = list(csv.DictReader(handle))
    assert [Path(row["input"]).name for row in report] == ["a.wav", "broken.wav", "b.flac"]
    ok = [row for row in report if row["status"] == "ok"]
    assert all(float(row["output_true_peak_dbtp"]) <= -1.0 and abs(float(row["loudness_change_lu"])) <= 0.5 for row in ok)
    assert float(next(row for row in ok if row["input"].endswith("a.wav"))["limiting_max_db"]) > 0.0


def test_demo_writes_settings_and_plot(tmp_path: Path) -> None:
    summary = run_eq_demo(tmp_path, duration_s=2.0)
    assert (tmp_path / "eq_settings.json").is_file() and (tmp_path / "eq_responses.png").stat().st_size > 10_000
    assert summary["terms"]["bright"]["spectral_centroid_change_hz"] > 0 > summary["terms"]["warm"]["spectral_centroid_change_hz"]
    assert abs(summary["terms"]["warm"]["loudness_change_lu"]) < 0.5


def test_bright_raises_and_warm_lowers_the_spectral_centroid_of_pink_noise(model) -> None:
    noise = pink_noise(3.0, SAMPLE_RATE_HZ)
    before_hz = spectral_centroid_hz(noise, SAMPLE_RATE_HZ)
    bright, _ = process_audio(noise, SAMPLE_RATE_HZ, model.generate("bright"))
    warm, _ = process_audio(noise, SAMPLE_RATE_HZ, model.generate("warm"))
    assert spectral_centroid_hz(bright, SAMPLE_RATE_HZ) > before_hz * 1.1
    assert spectral_centroid_hz(warm, SAMPLE_RATE_HZ) < before_hz * 0.9


def test_cli_unknown_term_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from sonolab.cli import main

    monkeypatch.setattr(sys, "argv", ["sonolab", "eq", "generate", "sparkly"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    stderr = " ".join(capsys.readouterr().err.split())  # rich may wrap the line at the terminal width
    assert "Traceback" not in stderr
    assert "unknown term 'sparkly'" in stderr and "warm" in stderr and "bright" in stderr


def test_cli_generate_json_prints_13_parameters(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from sonolab.cli import main

    monkeypatch.setattr(sys, "argv", ["sonolab", "eq", "generate", "bright", "--json", "--strength", "0.5"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(payload["setting"]) == 13 and payload["strength"] == 0.5
