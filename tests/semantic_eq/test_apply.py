"""Applying generated EQ to audio: spectral direction, loudness matching, format kept, no clipping."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonolab.audio.eq import EqSetting
from sonolab.audio.io import load_audio, save_audio
from sonolab.semantic_eq.apply import apply_to_file, integrated_loudness_lufs, process_audio
from sonolab.semantic_eq.default import load_eq_model
from sonolab.semantic_eq.demo import pink_noise, run_eq_demo, spectral_centroid_hz


@pytest.fixture(scope="module")
def model():
    return load_eq_model()


def test_bright_raises_and_warm_lowers_the_spectral_centroid_of_pink_noise(model) -> None:
    sample_rate_hz = 44100
    noise = pink_noise(3.0, sample_rate_hz)
    before_hz = spectral_centroid_hz(noise, sample_rate_hz)
    bright, _ = process_audio(noise, sample_rate_hz, model.generate("bright"))
    warm, _ = process_audio(noise, sample_rate_hz, model.generate("warm"))
    assert spectral_centroid_hz(bright, sample_rate_hz) > before_hz * 1.1
    assert spectral_centroid_hz(warm, sample_rate_hz) < before_hz * 0.9


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
    noise = pink_noise(2.0, 44100)
    _, report = process_audio(noise, 44100, model.generate("bright"), loudness_match=False)
    assert report.makeup_gain_db == 0.0 and report.input_loudness_lufs is None


@pytest.mark.parametrize("loudness_match", [True, False])
def test_loud_input_is_not_clipped_and_the_reduction_is_reported(loudness_match: bool) -> None:
    noise = pink_noise(2.0, 44100, rms=0.3)
    noise = (0.99 * noise / np.max(np.abs(noise))).astype(np.float32)
    # matched: cutting the highs lowers the (K-weighted) loudness far more than the low-dominated peaks,
    # so the make-up gain would push the peaks over full scale; unmatched: boosting the lows raises them
    if loudness_match:
        setting = EqSetting(high_shelf_gain_db=-12.0, high_shelf_cutoff_hz=580.0)
    else:
        setting = EqSetting(low_shelf_gain_db=12.0, low_shelf_cutoff_hz=1000.0)
    output, report = process_audio(noise, 44100, setting, loudness_match=loudness_match)
    assert np.max(np.abs(output)) <= 1.0
    assert report.clipping_reduction_db > 0.0
    assert any("no clipping" in note for note in report.notes)


def test_demo_writes_settings_and_plot(tmp_path: Path) -> None:
    summary = run_eq_demo(tmp_path, duration_s=2.0)
    assert (tmp_path / "eq_settings.json").is_file() and (tmp_path / "eq_responses.png").stat().st_size > 10_000
    assert summary["terms"]["bright"]["spectral_centroid_change_hz"] > 0 > summary["terms"]["warm"]["spectral_centroid_change_hz"]
    assert abs(summary["terms"]["warm"]["loudness_change_lu"]) < 0.5


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
