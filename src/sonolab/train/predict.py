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
from sonolab.models.group_spreading import PREDICT_NOTE, SpreadingSettings, saved_spreading, spread_within_groups


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


def matrix_for_file(path: str | Path, settings: FeatureSettings) -> np.ndarray:
    """One audio file's referenced, floored log-mel `(n_mels, frames)`, before framing."""
    from sonolab.audio.io import load_audio

    audio, sample_rate_hz = load_audio(path, target_sample_rate_hz=settings.sample_rate_hz, mono=True)
    return apply_reference_and_floor(log_mel_re_unity(audio, sample_rate_hz, settings), settings)


def frame_matrix(matrix: np.ndarray, settings: FeatureSettings, framing: dict[str, Any], statistics: Any = None) -> np.ndarray:
    """The `(1, n_mels, target_frames)` model input of a matrix (evaluation crop; standardised by its group's
    `BandStatistics` when the model was trained with group normalisation)."""
    fitted = fit_frames(matrix, int(framing["target_frames"]), settings.floor_db, framing.get("eval_crop", "middle")).features
    return (fitted if statistics is None else statistics.standardise(fitted))[None].astype(np.float32)


def features_for_file(path: str | Path, settings: FeatureSettings, framing: dict[str, Any]) -> np.ndarray:
    """The `(1, n_mels, target_frames)` model input for one audio file."""
    return frame_matrix(matrix_for_file(path, settings), settings, framing)


def _group_normalised(meta: dict[str, Any]) -> bool:
    return meta.get("group_normalisation", "none") == "per_group_standardise"


def model_inputs(paths: Sequence[str | Path], meta: dict[str, Any], groups: Sequence[str] | None = None
                 ) -> tuple[list[np.ndarray | None], dict[str, str], list[np.ndarray | None]]:
    """Each path's model input for a saved model (None where the file failed), the failures (path -> reason), and
    each file's clip vector (per-band mean and std of its log-mel: the graph of `group_spreading`).

    A model trained with group normalisation standardises each group by that group's own statistics over the
    given files (`groups`: one id per path; None: all the files form one group), as in training."""
    from sonolab.train.classical_inputs import clip_vector_of

    from sonolab.data.group_normalisation import group_band_statistics

    settings = meta["feature_settings_object"]
    matrices: list[np.ndarray | None] = []
    failures: dict[str, str] = {}
    for path in paths:
        try:
            matrices.append(matrix_for_file(path, settings))
        except (AudioLoadError, TypeError) as error:
            failures[str(path)] = str(error)
            matrices.append(None)
    row_groups = [str(group) for group in groups] if groups is not None else ["files"] * len(paths)
    statistics: dict[str, Any] = {}
    if _group_normalised(meta):  # each group's statistics from its readable files (rows keyed by position)
        readable = [str(i) for i, matrix in enumerate(matrices) if matrix is not None]
        statistics = group_band_statistics(lambda i: matrices[int(i)], dict(zip(map(str, range(len(paths))), row_groups)), readable)
    inputs = [None if matrix is None else frame_matrix(matrix, settings, meta["framing"], statistics.get(row_groups[i]))
              for i, matrix in enumerate(matrices)]
    return inputs, failures, [None if matrix is None else clip_vector_of(matrix, "logmel") for matrix in matrices]


def spread_probabilities(meta: dict[str, Any], probabilities: np.ndarray, clip_vectors: Sequence[np.ndarray],
                         groups: Sequence[str], spreading: SpreadingSettings | None = None) -> np.ndarray:
    """The probabilities spread within groups when the model was scored with `group_spreading` (model.json), or with
    `spreading` when given."""
    spreading = spreading or saved_spreading(meta)
    if spreading is None or not len(probabilities):
        return probabilities
    return spread_within_groups(probabilities, np.stack(list(clip_vectors)), list(groups), spreading)


@torch.no_grad()
def predict_files(run_dir: str | Path, files: Sequence[str | Path]) -> dict[str, Any]:
    """Class probabilities per file, averaged over every fold/seed model of the run (each with its own
    feature settings). Unreadable files are listed with their reason, not dropped."""
    from sonolab.train.export import load_model

    directories = model_dirs(run_dir)
    classes: list[str] | None = None
    sums: dict[str, np.ndarray] = {}
    failures: dict[str, str] = {}
    notes: set[str] = set()
    for directory in directories:
        model, meta = load_model(directory)
        if classes is None:
            classes = meta["classes"]
        elif meta["classes"] != classes:
            raise SonolabError(f"{directory}: its classes differ from the other models of {run_dir}")
        inputs, failed, vectors = model_inputs(files, meta)
        failures.update(failed)
        notes.update(["group normalisation: the given files were standardised together, as one group (one speaker)"] if _group_normalised(meta) else [])
        read = [index for index, features in enumerate(inputs) if str(files[index]) not in failures and features is not None]
        if saved_spreading(meta) is not None:
            notes.add(PREDICT_NOTE)
        probabilities = [torch.softmax(model(torch.from_numpy(inputs[i])[None]).float(), dim=1)[0].numpy() for i in read]
        if read:
            spread = spread_probabilities(meta, np.stack(probabilities), [vectors[i] for i in read], ["files"] * len(read))
            for row, index in enumerate(read):
                sums[str(files[index])] = sums.get(str(files[index]), 0) + spread[row]
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
    result = {"models": [str(d) for d in directories], "classes": classes, "predictions": predictions, "failed": len(failures)}
    return {**result, "note": "; ".join(sorted(notes))} if notes else result


@torch.no_grad()
def evaluate_run(run_dir: str | Path, root: str | Path | None = None, progress: bool = True, partition: str = "test",
                 spreading: SpreadingSettings | None = None) -> dict[str, Any]:
    """Re-score every saved model on its fold's test (or `val`) partition, computing features from the audio files
    (independently of the training cache); writes `evaluation.json` for the test partition as the models were saved.

    `spreading` re-scores with other `group_spreading` settings than the saved ones (e.g. to compare settings on
    validation, `benchmarks/spreading_rescore.py`); nothing is written then."""
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
        item_ids = fold.partitions()[partition]
        paths = [splits.resolve_path(item_id, Path(root) if root else None) for item_id in item_ids]
        groups = [str(splits.groups.get(item_id, item_id)) for item_id in item_ids]
        inputs, failures, vectors = model_inputs(paths, meta, groups)
        read = []
        for index, (item_id, path, features) in enumerate(zip(item_ids, paths, inputs)):
            if features is None:
                failed.append({"item_id": item_id, "reason": failures[str(path)]})
                continue
            probabilities.append(torch.softmax(model(torch.from_numpy(features)[None]).float(), dim=1)[0].numpy())
            labels.append(classes.index(splits.labels[item_id]))
            read.append(index)
        spread = spread_probabilities(meta, np.stack(probabilities), [vectors[i] for i in read], [groups[i] for i in read], spreading)
        scores = classification_metrics(labels, spread, classes)
        results.append({"fold": fold.name, "seed": meta.get("seed"), "model": str(directory), "failed": failed, **scores})
    evaluation = {
        "metrics": {name: fold_seed_stats([(r["fold"], r["seed"], r[name]) for r in results]) for name in SCALAR_METRICS},
        "runs": results,
    }
    if partition == "test" and spreading is None:
        write_json_atomic(run_dir / "evaluation.json", evaluation)
    return evaluation
