"""The shipped MERGE recipe through the command line: `sonolab train` (the bimodal task and its recipe
section are known to the CLI without any import by the user), `evaluate` from the files, `report` with the
quadrant figures, and `predict` with `--lyrics`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from merge_fixtures import make_merge_tree, make_tiny_bert  # noqa: E402

from sonolab.cli import app  # noqa: E402
from sonolab.errors import ConfigError  # noqa: E402

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "merge_bimodal.yaml"


def _tiny(bert: Path) -> list[str]:
    values = [
        "features.sample_rate_hz=16000", "features.n_fft=512", "features.hop_length_samples=256", "features.n_mels=24",
        "framing.target_frames=24", "model.channels=[4, 8]", "model.attention_reduction=2", "training.epochs=2",
        "training.batch_size=16", "training.patience=0", "seeds=[0]", "bimodal.hidden_dim=16",
        f"bimodal.text.model_path={bert}", "bimodal.text.max_length_tokens=48", "bimodal.text.frozen_epochs=1",
    ]
    return [part for value in values for part in ("--set", value)]


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_merge_recipe_trains_evaluates_reports_and_predicts_from_the_cli(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one intra-op thread is faster on a shared 2-core machine
    try:
        tree = make_merge_tree(tmp_path / "merge", num_songs=24, duration_s=0.5, seed=3)
        bert = make_tiny_bert(tmp_path / "bert")
        run_dir = tmp_path / "run"
        _invoke("train", str(RECIPE), "--root", str(tree.root), "--out", str(run_dir), "--no-progress", *_tiny(bert))
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["task"] == "bimodal" and summary["modalities"] == ["audio", "lyrics"]

        evaluated = json.loads(_invoke("evaluate", str(run_dir), "--json"))  # from the files, not the cache
        for name in ("quadrant_accuracy", "arousal_ccc", "valence_ccc"):
            assert evaluated[name]["mean"] == pytest.approx(summary["metrics"][name]["mean"], abs=1e-5), name

        _invoke("report", str(run_dir))
        page = (run_dir / "report.html").read_text()
        assert "Quadrant confusion" in page and "data:image/png;base64," in page and "arousal_ccc" in page
        assert (run_dir / "figures" / "quadrant_confusion.png").stat().st_size > 0

        song = next(s for s in tree.songs if s["tvt"] == "test")
        audio = tree.root / "audio" / song["quadrant"] / f"{song['audio_id']}.mp3"
        lyrics = tree.root / "lyrics" / song["quadrant"] / f"{song['lyric_id']}.txt"
        row = json.loads(_invoke("predict", str(run_dir), str(audio), "--lyrics", str(lyrics), "--json"))["predictions"][0]
        assert row["quadrant"] in ("Q1", "Q2", "Q3", "Q4") and set(row) >= {"arousal", "valence", "quadrant_probabilities"}
        table = _invoke("predict", str(run_dir), str(audio), "--lyrics", str(lyrics))
        assert row["quadrant"] in table

        missing = CliRunner().invoke(app, ["predict", str(run_dir), str(audio)])  # `main` turns this into one line, exit 2
        assert isinstance(missing.exception, ConfigError) and "--lyrics" in str(missing.exception)
    finally:
        torch.set_num_threads(threads)
