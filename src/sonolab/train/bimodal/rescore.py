"""`sonolab evaluate` for a bimodal run: every saved fold/seed model re-scored on its fold's test songs,
from the audio and lyrics files (not from the training cache), with the run's own metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sonolab.errors import DatasetError


def evaluate_bimodal_run(run_dir: str | Path, root: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Re-score each model of a bimodal run on its fold's test songs; writes `evaluation.json`.

    Songs of a test partition that can no longer be found in the dataset are listed, not dropped silently.
    """
    from rich.progress import track

    from sonolab.atomic import write_json_atomic
    from sonolab.data.registry import load_dataset
    from sonolab.data.splits import load_splits
    from sonolab.train.summary import fold_seed_stats
    from sonolab.evaluate.regression import emotion_metrics
    from sonolab.models.bimodal import TARGET_NAMES
    from sonolab.train.bimodal.task import _predict_with, _quadrant_predictions, find_model_dirs

    run_dir = Path(run_dir)
    splits = load_splits(run_dir / "splits.json")
    data_root = Path(root or splits.root)  # the root the run was trained on is recorded in its splits
    if not data_root.is_dir():
        raise DatasetError(f"{data_root}: the MERGE folder of this run was not found (fix: pass --root DIR)")
    by_id = load_dataset(splits.dataset, data_root).by_id()
    folds = {fold.name: fold for fold in splits.folds}
    results = []
    for folder in track(find_model_dirs(run_dir), description="evaluating", disable=not progress, transient=True):
        fold = folds[folder.parent.name]
        items = [by_id[item_id] for item_id in fold.test if item_id in by_id]
        missing = [{"item_id": item_id, "reason": f"not in the MERGE metadata under {data_root}"}
                   for item_id in fold.test if item_id not in by_id]
        outputs, payload = _predict_with(folder, [item.path for item in items],
                                         [item.metadata["lyrics_path"] for item in items], len(items))
        section = payload["bimodal"]
        predicted_q = _quadrant_predictions(outputs, section["quadrant_from"], float(payload["av_midpoint"]))
        true_av = np.asarray([[item.targets[name] for name in TARGET_NAMES] for item in items])
        true_q = [item.label for item in items]
        scores = emotion_metrics(true_av if "av" in outputs else None, outputs.get("av"), true_q, predicted_q)
        results.append({"fold": fold.name, "seed": folder.name.removeprefix("seed_"), "model": str(folder),
                        "count": len(items), "failed": missing, **scores})
    names = [name for name in results[0] if isinstance(results[0][name], float)]
    evaluation = {"metrics": {name: fold_seed_stats([(r["fold"], r["seed"], r[name]) for r in results]) for name in names},
                  "runs": results}
    write_json_atomic(run_dir / "evaluation.json", evaluation)
    return evaluation

