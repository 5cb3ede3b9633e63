"""`sonolab evaluate` and `sonolab predict` for classical runs: features recomputed from the audio files with the
run's own feature settings, the saved heads (safetensors + JSON, no pickle) averaged over folds and seeds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.errors import AudioLoadError, SonolabError
from sonolab.models.group_spreading import PREDICT_NOTE, saved_spreading, spread_within_groups
from sonolab.train.feature_section import group_normalisation, kind_settings


def classical_model_dirs(run_dir: str | Path) -> list[Path]:
    """Every fold/seed folder of the run's (selected trial's) classical heads."""
    from sonolab.train.predict import model_dirs

    found = [d for d in model_dirs(run_dir) if (d / "head").is_dir()]
    if not found:
        raise SonolabError(f"{run_dir}: no classical heads here (fix: point at a run of a `task: classical` recipe)")
    return found


def clip_vectors(paths: Sequence[str | Path], features: dict[str, Any], groups: Sequence[str] | None = None,
                 modalities: Sequence[str] = ("audio",)) -> tuple[np.ndarray, list[int], dict[int, str]]:
    """Clip vectors of `paths` (rows in order of the files that could be read), their indices, and failures.

    With `per_group_standardise`, each group's rows are standardised by that group's own statistics (`groups`: one
    id per path; None: all the files form one group). `modalities`: the saved head's (model.json); a head that read
    lyrics is refused, since only audio files are given."""
    from sonolab.audio.io import load_audio
    from sonolab.features.kinds import extract, kind_module
    from sonolab.train.classical import clip_vector_of
    from sonolab.train.classical_inputs import audio_sections

    if "lyrics" in modalities or not audio_sections(features):
        raise SonolabError("this classical run reads lyrics, which evaluate and predict (audio files only) cannot give it "
                           "(fix: read the run's per-fold metrics.json and summary.json, or train without features.lyrics)")
    kinds = [(entry["kind"], kind_settings(entry)) for entry in audio_sections(features)]
    rows, kept, failures = [], [], {}
    for index, path in enumerate(paths):
        try:
            parts = []
            for kind, settings in kinds:
                rate_hz = int(kind_module(kind).decode_sample_rate_hz(settings))
                audio, _ = load_audio(path, target_sample_rate_hz=rate_hz, mono=True)
                parts.append(clip_vector_of(extract(audio[0], rate_hz, settings), kind))
        except (AudioLoadError, ValueError) as error:
            failures[index] = str(error)
            continue
        rows.append(np.concatenate(parts))
        kept.append(index)
    matrix = np.stack(rows) if rows else np.zeros((0, 0), np.float32)
    if rows and group_normalisation(features) == "per_group_standardise":
        from sonolab.data.group_normalisation import per_group_standardise

        row_groups = [groups[i] for i in kept] if groups is not None else ["files"] * len(kept)
        matrix = per_group_standardise(matrix, row_groups).features
    return matrix, kept, failures


def evaluate_classical_run(run_dir: str | Path, root: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Re-score every saved head on its fold's test partition from the audio files; writes `evaluation.json`."""
    from rich.progress import track

    from sonolab.atomic import write_json_atomic
    from sonolab.data.splits import load_splits
    from sonolab.evaluate.metrics import SCALAR_METRICS, classification_metrics
    from sonolab.models.classical import load_classical_head
    from sonolab.train.summary import fold_seed_stats

    run_dir = Path(run_dir)
    splits = load_splits(run_dir / "splits.json")
    folds = {fold.name: fold for fold in splits.folds}
    results = []
    for directory in track(classical_model_dirs(run_dir), description="evaluating", disable=not progress, transient=True):
        meta = json.loads((directory / "model.json").read_text(encoding="utf-8"))
        fold = folds[meta["fold"]]
        head = load_classical_head(directory / "head")
        paths = [splits.resolve_path(item_id, Path(root) if root else None) for item_id in fold.test]
        groups = [splits.groups.get(item_id, item_id) for item_id in fold.test]
        matrix, kept, failed = clip_vectors(paths, meta["features"], groups, meta.get("modalities", ["audio"]))
        classes = meta["classes"]
        fitted = head.predict_proba(matrix)
        probabilities = np.zeros((len(kept), len(classes)))
        for column, name in enumerate(head.classes):
            probabilities[:, classes.index(str(name))] = fitted[:, column]
        spreading = saved_spreading(meta)
        if spreading is not None:
            probabilities = spread_within_groups(probabilities, matrix, [groups[i] for i in kept], spreading)
        labels = [classes.index(splits.labels[fold.test[i]]) for i in kept]
        scores = classification_metrics(labels, probabilities, classes)
        results.append({"fold": fold.name, "seed": meta.get("seed"), "model": str(directory),
                        "failed": [{"item_id": fold.test[i], "reason": reason} for i, reason in failed.items()], **scores})
    evaluation = {"metrics": {name: fold_seed_stats([(r["fold"], r["seed"], r[name]) for r in results]) for name in SCALAR_METRICS},
                  "runs": results}
    write_json_atomic(run_dir / "evaluation.json", evaluation)
    return evaluation


def predict_classical(run_dir: str | Path, files: Sequence[str | Path]) -> dict[str, Any]:
    """Class probabilities per file, averaged over every head of the run; unreadable files listed, not dropped."""
    from sonolab.models.classical import load_classical_head

    directories = classical_model_dirs(run_dir)
    meta = json.loads((directories[0] / "model.json").read_text(encoding="utf-8"))
    classes = meta["classes"]
    matrix, kept, failures = clip_vectors(files, meta["features"], modalities=meta.get("modalities", ["audio"]))
    total = np.zeros((len(kept), len(classes)))
    for directory in directories:
        head = load_classical_head(directory / "head")
        fitted = head.predict_proba(matrix)
        for column, name in enumerate(head.classes):
            total[:, classes.index(str(name))] += fitted[:, column]
    total /= len(directories)
    spreading = saved_spreading(meta)
    if spreading is not None and len(kept):
        total = spread_within_groups(total, matrix, ["files"] * len(kept), spreading)
    predictions = []
    row_of = {index: row for row, index in enumerate(kept)}
    for index, file in enumerate(files):
        if index in failures:
            predictions.append({"file": str(file), "error": failures[index]})
            continue
        probabilities = total[row_of[index]]
        predictions.append({"file": str(file), "label": classes[int(np.argmax(probabilities))],
                            "probabilities": {name: float(value) for name, value in zip(classes, probabilities)}})
    notes = []
    if group_normalisation(meta["features"]) == "per_group_standardise":
        notes.append("group normalisation: the given files were standardised together, as one group (one speaker)")
    if spreading is not None:
        notes.append(PREDICT_NOTE)
    note = "; ".join(notes) or None
    return {"models": [str(d) for d in directories], "classes": classes, "predictions": predictions,
            "failed": len(failures), "note": note}
