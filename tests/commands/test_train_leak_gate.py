"""`sonolab train` audits its splits before any training: a planted copy across speakers stops it with the
offending ids and the fix; `--allow-leaks "reason"` trains anyway and the report shows the reason first."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from generated import make_fsdd  # noqa: E402

from sonolab.cli import app  # noqa: E402

RECIPE = {
    "task": "classical", "dataset": "fsdd", "features": {"kind": "functionals", "f0": False},
    "split": {"strategy": "loso"}, "head": {"name": "logistic_regression"}, "baseline": {"enabled": False},
}


def test_train_refuses_a_leaky_split_and_accepts_it_with_a_reason(tmp_path: Path) -> None:
    root = make_fsdd(tmp_path / "fsdd", speakers=3, takes=4)
    recordings = root / "recordings"
    shutil.copy(recordings / "0_spk0_1.wav", recordings / "0_spk2_9.wav")  # the same recording under another speaker
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    refused = CliRunner().invoke(app, ["train", str(recipe), "--root", str(root), "--out", str(tmp_path / "run"), "--no-progress"])
    assert refused.exit_code != 0
    message = str(refused.exception) + refused.output
    assert "0_spk0_1" in message and "0_spk2_9" in message and "--allow-leaks" in message
    assert not list((tmp_path / "run").glob("*/seed_0/metrics.json"))  # nothing was trained

    reason = "copies are deliberate in this smoke test"
    allowed = CliRunner().invoke(app, ["train", str(recipe), "--root", str(root), "--out", str(tmp_path / "run2"),
                                       "--no-progress", "--allow-leaks", reason])
    assert allowed.exit_code == 0, allowed.output
    assert CliRunner().invoke(app, ["report", str(tmp_path / "run2")]).exit_code == 0
    report = (tmp_path / "run2" / "report.md").read_text().splitlines()
    first_note = next(line for line in report[1:] if line.strip())
    assert first_note.startswith("WARNING") and reason in first_note
