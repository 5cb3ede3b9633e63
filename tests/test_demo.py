"""`sonolab demo` end to end on the bundled real sample (one epoch, to stay fast)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sonolab.cli import app


def test_demo_writes_the_whole_report_folder(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--epochs", "1"])
    assert result.exit_code == 0, result.output
    for name in ("report.md", "metrics.json", "confusion_matrix.png", "training_curves.png", "contact_sheet.png",
                 "verify.json", "splits.json", "audit.json", "eq/eq_settings.json", "eq/eq_responses.png", "run/summary.json"):
        assert (out / name).is_file(), f"demo did not write {name}"
    metrics = json.loads((out / "metrics.json").read_text())
    assert [row["status"] for row in metrics["stages"]] == ["ok"] * 6
    assert metrics["dataset"]["verify"]["files"] == 300
    groups = metrics["split_groups"]
    assert not set(groups["train"]) & set(groups["test"]) and not set(groups["val"]) & set(groups["test"])
    assert 0.0 <= metrics["classification"]["metrics"]["accuracy"]["mean"] <= 1.0
    eq_terms = metrics["semantic_eq"]["terms"]
    assert eq_terms["bright"]["spectral_centroid_change_hz"] > 0 > eq_terms["warm"]["spectral_centroid_change_hz"]
    assert "Stages" in (out / "report.md").read_text()


def test_the_packaged_demo_recipe_is_the_readable_copy_in_recipes() -> None:
    from sonolab.demo import demo_recipe_path

    shipped = demo_recipe_path()
    assert "site-packages" in str(shipped) or "/src/sonolab/assets/" in str(shipped).replace("\\", "/")
    readable = Path(__file__).resolve().parents[1] / "recipes" / "demo_fsdd.yaml"
    assert shipped.read_bytes() == readable.read_bytes(), "recipes/demo_fsdd.yaml and sonolab/assets/recipes/demo_fsdd.yaml differ: copy one onto the other"
