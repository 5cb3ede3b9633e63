"""`sonolab verify / features / split / audit` exit codes and output on generated datasets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import soundfile as sf
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from dataset_fixtures import make_esc50, make_folder_tree, make_fsdd, write_bad_files, write_wav  # noqa: E402

from sonolab.cli import app  # noqa: E402

runner = CliRunner()


def test_verify_exits_0_on_a_clean_dataset_and_1_listing_bad_files(tmp_path):
    root = make_fsdd(tmp_path / "fsdd", speakers=("a", "b"), digits=range(2), takes=range(2))
    result = runner.invoke(app, ["verify", "fsdd", "--root", str(root), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "8 files, 2 speakers, 2 classes, no problems" in result.output
    folder = make_folder_tree(tmp_path / "folder", classes=("x", "y"), per_class=2)
    write_bad_files(folder / "x")
    result = runner.invoke(app, ["verify", "folder", "--root", str(folder), "--json", "--workers", "1"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and sorted(p["kind"] for p in report["problems"]) == ["empty", "non_finite", "unreadable"]


def test_features_prints_counts_and_writes_the_failures_manifest(tmp_path):
    folder = make_folder_tree(tmp_path / "folder", classes=("x", "y"), per_class=2)
    write_bad_files(folder / "y")
    out = tmp_path / "cache"
    args = ["features", "folder", "--root", str(folder), "--out", str(out), "--sample-rate-hz", "8000",
            "--n-mels", "20", "--n-fft", "256", "--hop-length-samples", "128", "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "cached 4 items; 3 failures" in result.output
    assert len(json.loads((out / "failures.json").read_text())) == 3
    assert "reused" in runner.invoke(app, args).output


def test_split_then_audit_passes_and_a_planted_copy_fails_with_its_ids(tmp_path):
    root = make_fsdd(tmp_path / "fsdd", speakers=("a", "b", "c", "d"), digits=range(2), takes=range(3))
    splits_path = tmp_path / "splits.json"
    result = runner.invoke(app, ["split", "fsdd", "--root", str(root), "--strategy", "loso", "--out", str(splits_path)])
    assert result.exit_code == 0, result.output
    assert "4 folds" in result.output
    result = runner.invoke(app, ["audit", str(splits_path), "--root", str(root), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "no leaks" in result.output
    # a quieter copy of speaker a's clip filed under speaker d: a near-identical leak in every fold that separates them
    audio, rate = sf.read(str(root / "recordings" / "0_a_0.wav"), dtype="float32")
    write_wav(root / "recordings" / "0_d_9.wav", audio * 0.5, rate, subtype="FLOAT")
    runner.invoke(app, ["split", "fsdd", "--root", str(root), "--strategy", "loso", "--out", str(splits_path)])
    result = runner.invoke(app, ["audit", str(splits_path), "--workers", "1"])
    assert result.exit_code == 1
    assert "near_identical_audio" in result.output and "0_a_0" in result.output and "0_d_9" in result.output
    result = runner.invoke(app, ["audit", str(splits_path), "--json", "--workers", "1"])
    assert json.loads(result.output)["leak_counts"]["near_identical_audio"] >= 1


def _run_main(args: list[str], capsys) -> tuple[int, str]:
    """Run the real console entry point (user errors -> one line, exit 2); return (exit code, stdout+stderr)."""
    from unittest import mock

    from sonolab.cli import main

    with mock.patch.object(sys, "argv", ["sonolab", *args]):
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_unwritable_outputs_and_bad_settings_files_are_one_line_errors(tmp_path, capsys):
    root = make_fsdd(tmp_path / "fsdd", speakers=("a", "b", "c"), digits=range(2), takes=range(1))
    (tmp_path / "afile").write_text("x")
    (tmp_path / "bad.json").write_text("{not json")
    cases = [
        (["split", "fsdd", "--root", str(root), "--strategy", "loso", "--out", str(tmp_path)], "existing folder"),
        (["split", "fsdd", "--root", str(root), "--strategy", "loso", "--out", str(tmp_path / "afile" / "s.json")], "is a file, not a folder"),
        (["features", "fsdd", "--root", str(root), "--out", str(tmp_path / "afile" / "cache")], "is a file, not a folder"),
        (["features", "fsdd", "--root", str(root), "--out", str(tmp_path / "c"), "--settings", str(tmp_path / "bad.json")], "not a FeatureSettings JSON"),
        (["features", "fsdd", "--root", str(root), "--out", str(tmp_path / "c"), "--settings", str(tmp_path / "none.json")], "cannot read the --settings file"),
    ]
    for args, expected in cases:
        code, output = _run_main(args, capsys)
        assert code == 2, output
        assert expected in output and "Traceback" not in output and output.count("error:") == 1


def test_verify_text_names_the_missing_file_and_audit_fails_on_unchecked_audio(tmp_path):
    root = make_esc50(tmp_path / "esc", folds=range(1, 2), sources_per_fold=1)
    missing = root / "audio" / "1-100100-A-0.wav"
    missing.unlink()
    result = runner.invoke(app, ["verify", "esc50", "--root", str(root), "--workers", "1"])
    assert result.exit_code == 1 and f"missing_file: {missing}" in result.output.replace("\n", "")
    fsdd = make_fsdd(tmp_path / "fsdd", speakers=("a", "b", "c"), digits=range(2), takes=range(1))
    splits_path = tmp_path / "splits.json"
    assert runner.invoke(app, ["split", "fsdd", "--root", str(fsdd), "--strategy", "loso", "--out", str(splits_path)]).exit_code == 0
    (fsdd / "recordings" / "0_a_0.wav").unlink()  # cannot be fingerprinted any more: not known to be leak-free
    result = runner.invoke(app, ["audit", str(splits_path), "--workers", "1"])
    assert result.exit_code == 1 and "1 items could not be checked" in result.output
    result = runner.invoke(app, ["audit", str(splits_path), "--json", "--workers", "1"])
    assert result.exit_code == 1 and json.loads(result.output)["complete"] is False
