"""Predictions for new audio files and held-out re-evaluation of a finished run, from the saved model
files (safetensors + JSON) and each model's own saved feature settings and framing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sonolab.audio.features import FeatureSettings, apply_reference_and_floor, log_mel_re_unity
from sonolab.audio.framing import fit_frames
from sonolab.errors import AudioLoadError, SonolabError


def model_dirs(run_dir: str | Path) -> list[Path]:
    """Every fold/seed folder holding a saved model (the selected trial's, for a sweep)."""
    run_dir = Path(run_dir)
    if (run_dir / "model.json").is_file():
        return [run_dir]
    summary_path = run_dir / "summary.json"
    base = run_dir
    if summary_path.is_file():
        best = json.loads(summary_path.read_text(encoding="utf-8")).get("best_trial")
        if best:
            base = run_dir / best
    found = sorted(path.parent for path in base.glob("*/seed_*/model.json"))
    if not found:
        raise SonolabError(f"{run_dir}: no saved models (fix: point at a run folder written by `sonolab train`)")
    return found


def features_for_file(path: str | Path, settings: FeatureSettings, framing: dict[str, Any]) -> np.ndarray:
    """The `(1, n_mels, target_frames)` model input for one audio file."""
    from sonolab.audio.io import load_audio

    audio, sample_rate_hz = load_audio(path, target_sample_rate_hz=settings.sample_rate_hz, mono=True)
    matrix = apply_reference_and_floor(log_mel_re_unity(audio, sample_rate_hz, settings), settings)
    fitted = fit_frames(matrix, int(framing["target_frames"]), settings.floor_db, framing.get("eval_crop", "middle"))
    return fitted.features[None].astype(np.float32)


@torch.no_grad()
def predict_files(run_dir: str | Path, files: Sequence[str | Path]) -> dict[str, Any]:
    """Class probabilities per file, averaged over every fold/seed model of the run (each with its own
    feature settings). Unreadable files are listed with their reason, not dropped."""
    from sonolab.train.export import load_model

    directories = model_dirs(run_dir)
    classes: list[str] | None = None
    sums: dict[str, np.ndarray] = {}
    failures: dict[str, str] = {}
    for directory in directories:
        model, meta = load_model(directory)
        if classes is None:
            classes = meta["classes"]
        elif meta["classes"] != classes:
            raise SonolabError(f"{directory}: its classes differ from the other models of {run_dir}")
        settings = meta["feature_settings_object"]
        for file in files:
            key = str(file)
            if key in failures:
                continue
            try:
                features = torch.from_numpy(features_for_file(file, settings, meta["framing"]))[None]
            except AudioLoadError as error:
                failures[key] = str(error)
                continue
            probabilities = torch.softmax(model(features).float(), dim=1)[0].numpy()
            sums[key] = sums.get(key, 0) + probabilities
    assert classes is not None
    predictions = []
    for file in files:
        key = str(file)
        if key in failures:
            predictions.append({"file": key, "error": failures[key]})
            continue
        probabilities = sums[key] / len(directories)
        predictions.append({"file": key, "label": classes[int(np.argmax(probabilities))],
                            "probabilities": {name: float(value) for name, value in zip(classes, probabilities)}})
    return {"models": [str(d) for d in directories], "classes": classes, "predictions": predictions, "failed": len(failures)}


@torch.no_grad()
def evaluate_run(run_dir: str | Path, root: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Re-score every saved model on its fold's test partition, computing features from the audio files
    (independently of the training cache); writes `evaluation.json`."""
    from rich.progress import track

    from sonolab.atomic import write_json_atomic
    from sonolab.data.splits import load_splits
    from sonolab.evaluate.metrics import SCALAR_METRICS, classification_metrics
    from sonolab.train.summary import fold_seed_stats
    from sonolab.train.export import load_model

    run_dir = Path(run_dir)
    splits = load_splits(run_dir / "splits.json")
    folds = {fold.name: fold for fold in splits.folds}
    results = []
    directories = model_dirs(run_dir)
    for directory in track(directories, description="evaluating", disable=not progress, transient=True):
        model, meta = load_model(directory)
        classes = meta["classes"]
        fold = folds.get(meta.get("fold", directory.parent.name))
        if fold is None:
            raise SonolabError(f"{directory}: its fold is not in {run_dir / 'splits.json'}")
        labels, probabilities, failed = [], [], []
        for item_id in fold.test:
            path = splits.resolve_path(item_id, Path(root) if root else None)
            try:
                features = torch.from_numpy(features_for_file(path, meta["feature_settings_object"], meta["framing"]))[None]
            except (AudioLoadError, TypeError) as error:
                failed.append({"item_id": item_id, "reason": str(error)})
                continue
            probabilities.append(torch.softmax(model(features).float(), dim=1)[0].numpy())
            labels.append(classes.index(splits.labels[item_id]))
        scores = classification_metrics(labels, np.stack(probabilities), classes)
        results.append({"fold": fold.name, "seed": meta.get("seed"), "model": str(directory), "failed": failed, **scores})
    evaluation = {
        "metrics": {name: fold_seed_stats([(r["fold"], r["seed"], r[name]) for r in results]) for name in SCALAR_METRICS},
        "runs": results,
    }
    write_json_atomic(run_dir / "evaluation.json", evaluation)
    return evaluation
