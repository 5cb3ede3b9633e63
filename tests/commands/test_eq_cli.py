"""`sonolab eq ...`: user mistakes are one line with exit 2, checked before any model or data is loaded."""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import numpy as np
import soundfile as sf

from sonolab.cli import main
from sonolab.semantic_eq.apply import _output_format


def _run_main(args: list[str], capsys) -> tuple[int, str]:
    with mock.patch.object(sys, "argv", ["sonolab", *args]):
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _stereo_flac(path: Path) -> Path:
    samples = (np.random.default_rng(0).standard_normal((4800, 2)) * 0.1).astype(np.float32)
    sf.write(str(path), samples, 48000, subtype="PCM_24")
    return path


def test_eq_output_and_option_mistakes_are_one_line_errors(tmp_path, capsys):
    source = _stereo_flac(tmp_path / "in.flac")
    (tmp_path / "afile").write_text("x")
    cases = [
        (["eq", "apply", "warm", str(source), str(tmp_path)], "existing folder"),
        (["eq", "apply", "warm", str(source), str(tmp_path / "afile" / "out.flac")], "is a file, not a folder"),
        (["eq", "plot", "--out", str(tmp_path / "plot.txt")], "must be a .png file"),
        (["eq", "plot", "--out", str(tmp_path / "afile" / "plot.png")], "is a file, not a folder"),
        (["eq", "train", "--root", str(tmp_path), "--out", str(tmp_path / "m"), "--holdout-fraction", "1.5"], "--holdout-fraction 1.5"),
        (["eq", "train", "--root", str(tmp_path), "--out", str(tmp_path / "afile")], "exists and is not a folder"),
        (["eq", "train", "--root", str(tmp_path), "--out", str(tmp_path / "m"), "--epochs", "0"], "--epochs 0 must be at least 1"),
    ]
    for args, expected in cases:
        code, output = _run_main(args, capsys)
        assert code == 2, output
        assert expected in output and "Traceback" not in output and output.count("error:") == 1
    assert not (tmp_path / "plot.txt").exists()


def test_apply_keeps_the_bit_depth_when_only_the_container_changes(tmp_path):
    source = _stereo_flac(tmp_path / "in.flac")
    assert _output_format(source, tmp_path / "out.flac")[:2] == ("FLAC", "PCM_24")
    file_format, subtype, notes = _output_format(source, tmp_path / "out.wav")
    assert (file_format, subtype) == ("WAV", "PCM_24") and "PCM_24 kept" in notes[0]
    assert _output_format(source, tmp_path / "out.ogg")[1] is None  # Vorbis has no PCM_24: the format's default


class _TinyModel:
    """Stand-in for a trained model (the per-term median generator): keeps these CLI tests independent of training."""

    def __new__(cls):
        from sonolab.semantic_eq.generators import MedianGenerator

        model = MedianGenerator({"warm": np.full(13, 0.3), "bright": np.full(13, 0.7)})
        model.source_name = lambda: "a tiny test model"
        return model


def test_generate_interpolate_and_apply_report_the_canonical_term_and_keep_the_format(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.setattr("sonolab.commands.eq._load_model", lambda model_dir: _TinyModel())
    code, output = _run_main(["eq", "generate", "Warm ", "--json"], capsys)
    assert code == 0 and json.loads(output)["term"] == "warm"
    code, output = _run_main(["eq", "interpolate", "WARM", "Bright", "--steps", "3", "--json"], capsys)
    payload = json.loads(output)
    assert code == 0 and (payload["from"], payload["to"], len(payload["steps"])) == ("warm", "bright", 3)
    source, target = _stereo_flac(tmp_path / "in.flac"), tmp_path / "out" / "out.flac"
    code, output = _run_main(["eq", "apply", " BRIGHT", str(source), str(target), "--json"], capsys)
    assert code == 0 and json.loads(output)["term"] == "bright", output
    info = sf.info(str(target))
    assert (info.samplerate, info.channels, info.format, info.subtype) == (48000, 2, "FLAC", "PCM_24")
    code, output = _run_main(["eq", "generate", "zz"], capsys)
    assert code == 2 and "known terms: warm, bright" in output and "Traceback" not in output


def test_plot_gain_axis_shows_every_curve():
    from sonolab.audio.eq import EqSetting, log_frequency_grid_hz, magnitude_response_db
    from sonolab.semantic_eq.plot import gain_axis_limit_db

    # all five bands at +12 dB sum to far more than +15 dB: the old fixed ±15 dB axis cut such human curves off
    boost = EqSetting.from_vector(np.array([12, 300, 12, 500, 1.0, 12, 1000, 1.0, 12, 2000, 1.0, 12, 3000], dtype=float))
    peak_db = float(np.max(magnitude_response_db(boost, log_frequency_grid_hz(256), 44100)))
    assert peak_db > 15.0 and gain_axis_limit_db(peak_db) >= peak_db + 0.5
    assert gain_axis_limit_db(3.0) == 15.0


def test_apply_on_a_folder_writes_outputs_and_a_report_and_exits_1_on_a_failed_file(tmp_path, capsys, monkeypatch):
    import csv

    monkeypatch.setattr("sonolab.commands.eq._load_model", lambda model_dir: _TinyModel())
    folder = tmp_path / "in"
    folder.mkdir()
    _stereo_flac(folder / "good.flac")
    (folder / "bad.wav").write_bytes(b"not audio at all")
    code, output = _run_main(["eq", "apply", "bright", str(folder), str(tmp_path / "out"), "--workers", "1", "--report", str(tmp_path / "r.csv")], capsys)
    assert code == 1 and "1 of 2 files written" in output and "bad.wav" in output and "Traceback" not in output
    info = sf.info(str(tmp_path / "out" / "good.flac"))
    assert (info.format, info.subtype, info.channels) == ("FLAC", "PCM_24", 2)
    with open(tmp_path / "r.csv", newline="") as handle:
        rows = {row["input"].rsplit("/", 1)[-1]: row for row in csv.DictReader(handle)}
    assert rows["bad.wav"]["status"] == "failed" and rows["bad.wav"]["error"]
    assert rows["good.flac"]["status"] == "ok" and float(rows["good.flac"]["output_true_peak_dbtp"]) <= -1.0


def test_apply_option_mistakes_are_one_line_errors(tmp_path, capsys):
    source = _stereo_flac(tmp_path / "in.flac")
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = [
        (["eq", "apply", "warm", str(source), str(tmp_path / "o.flac"), "--ceiling-dbtp", "3"], "--ceiling-dbtp 3.0 is outside"),
        (["eq", "apply", "warm", str(source), str(tmp_path / "o.flac"), "--workers", "-2"], "--workers -2 is negative"),
        (["eq", "apply", "warm", str(folder), str(folder / "out")], "lies inside the input folder"),
        (["eq", "evaluate", "--splits", "1"], "--splits 1"),
    ]
    for args, expected in cases:
        code, output = _run_main(args, capsys)
        assert code == 2, output
        assert expected in output and "Traceback" not in output and output.count("error:") == 1
