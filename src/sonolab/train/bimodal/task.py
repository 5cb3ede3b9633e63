"""The `bimodal` task: MERGE audio + lyrics -> valence/arousal and quadrants, every fold and seed of a recipe.

Recipe sections used: `dataset`, `root`, `cache_dir`, `features` (FeatureSettings), `framing`
(target_frames, crop, eval_crop), `split`, `model` (the audio tower, e.g. vgg_cnn with
attention: se or feature_gate: true), `training` (epochs, batch_size, lr, patience, monitor,
gradient_clip_norm, ...), `seeds`, and `bimodal` (below). `bimodal.modalities: [audio]` or
`[lyrics]` gives the single-modality runs from the same recipe.

A run folder holds: recipe.yaml, failures.json (every song left out, with its reason), splits.json,
fold-*/seed_*/ (checkpoints, logs, metrics.json, predictions.csv, figures, model.safetensors + model.json
+ text/ for `predict`), and summary.json (mean and std of every metric over folds and seeds).
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.atomic import atomic_path, write_json_atomic
from sonolab.audio.features import FeatureSettings
from sonolab.data.items import DatasetIndex, Problem
from sonolab.errors import ConfigError, DatasetError
from sonolab.models.bimodal import QUADRANT_CLASSES, TARGET_NAMES, BimodalModel
from sonolab.models.text import TextEncoder, TextSettings, cached_tokenize, load_tokenizer, resolve_text_model_dir

MODALITIES: tuple[str, ...] = ("audio", "lyrics")
QUADRANT_SOURCES: tuple[str, ...] = ("classifier", "regression")

BIMODAL_DEFAULTS: dict[str, Any] = {
    "modalities": ["audio", "lyrics"],
    "text": TextSettings().to_dict(),
    "fusion": "concat",  # concat | gated
    "hidden_dim": 256,
    "dropout": 0.3,
    "heads": {"regression": True, "classification": True},
    "loss_weights": {"regression": 1.0, "classification": 1.0},
    "quadrant_from": "classifier",  # classifier | regression (signs of predicted arousal/valence around av_midpoint)
    "av_midpoint": "auto",  # a number, or auto: the threshold that best reproduces the training quadrant labels
    "audio_lr": None,  # null: training.lr
    "head_lr": None,  # null: training.lr
}


def register() -> None:
    """Add the `bimodal` recipe section and the `bimodal` task to the training engine's registries."""
    from sonolab.train import config

    config.EXTRA_SECTIONS.setdefault("bimodal", copy.deepcopy(BIMODAL_DEFAULTS))
    try:
        from sonolab.train import tasks
    except ImportError:  # the engine's task registry is not there: run_bimodal can still be called directly
        return
    tasks.TASKS.setdefault("bimodal", run_bimodal)


def bimodal_section(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe's `bimodal` section over the defaults, checked."""
    section = copy.deepcopy(BIMODAL_DEFAULTS)
    for key, value in (recipe.get("bimodal") or {}).items():
        if key not in BIMODAL_DEFAULTS:
            raise ConfigError(f"unknown recipe key 'bimodal.{key}' (known: {', '.join(sorted(BIMODAL_DEFAULTS))})")
        if isinstance(value, dict) and isinstance(section[key], dict):
            section[key].update(value)
        else:
            section[key] = value
    modalities = [str(m).lower() for m in section["modalities"]]
    if not modalities or any(m not in MODALITIES for m in modalities):
        raise ConfigError(f"bimodal.modalities must be a non-empty list of {', '.join(MODALITIES)}, got {section['modalities']!r}")
    section["modalities"] = [m for m in MODALITIES if m in modalities]
    if section["quadrant_from"] not in QUADRANT_SOURCES:
        raise ConfigError(f"bimodal.quadrant_from must be classifier or regression, got {section['quadrant_from']!r}")
    heads = section["heads"]
    if section["quadrant_from"] == "classifier" and not heads.get("classification"):
        raise ConfigError("bimodal.quadrant_from: classifier needs bimodal.heads.classification: true")
    if section["quadrant_from"] == "regression" and not heads.get("regression"):
        raise ConfigError("bimodal.quadrant_from: regression needs bimodal.heads.regression: true")
    TextSettings.from_dict(section["text"])
    return section


# Options of the classification module (`train/module.py`) that the bimodal module does not implement.
CLASSIFIER_ONLY_TRAINING: tuple[str, ...] = ("label_smoothing", "mixup_alpha", "class_weights")


def refuse_classifier_only_training(training: dict[str, Any]) -> None:
    """A bimodal recipe that sets a classification-only training option is an error, not a silent no-op."""
    for key in CLASSIFIER_ONLY_TRAINING:
        if training.get(key):
            raise ConfigError(f"training.{key} applies to classification recipes only; the bimodal task does not "
                              f"use it (fix: remove it from the recipe or set it to 0/false)")


def choose_midpoint(arousal: np.ndarray, valence: np.ndarray, labels: list[str]) -> tuple[float, float]:
    """The single threshold on both scales whose sign quadrants best reproduce the labels (training data only)."""
    from sonolab.evaluate.regression import quadrants_from_av

    values = np.concatenate([arousal, valence])
    candidates = np.unique(np.round(np.linspace(np.quantile(values, 0.05), np.quantile(values, 0.95), 181), 6))
    best = (float(np.median(values)), -1.0)
    truth = np.asarray(labels)
    for candidate in candidates:
        agreement = float(np.mean(np.asarray(quadrants_from_av(arousal, valence, float(candidate))) == truth))
        if agreement > best[1] + 1e-12:
            best = (float(candidate), agreement)
    return best


def _quadrant_predictions(predictions: dict[str, np.ndarray], source: str, midpoint: float) -> list[str]:
    from sonolab.evaluate.regression import quadrants_from_av

    if source == "classifier":
        return [QUADRANT_CLASSES[i] for i in predictions["probabilities"].argmax(axis=1)]
    av = predictions["av"]
    return quadrants_from_av(av[:, TARGET_NAMES.index("arousal")], av[:, TARGET_NAMES.index("valence")], midpoint)


def build_bimodal_model(recipe: dict[str, Any], section: dict[str, Any], text_model_dir: Path | None,
                        text_config: Any | None = None) -> BimodalModel:
    """The model a recipe describes. `text_config` builds an empty text tower (weights loaded after)."""
    from sonolab.models.registry import build_model

    audio = build_model(dict(recipe["model"]), num_classes=None) if "audio" in section["modalities"] else None
    text = None
    if "lyrics" in section["modalities"]:
        text = TextEncoder.from_config(text_config) if text_config is not None else TextEncoder.from_pretrained(text_model_dir)
    return BimodalModel(
        audio, text, fusion=section["fusion"], hidden_dim=int(section["hidden_dim"]), dropout=float(section["dropout"]),
        regression=bool(section["heads"].get("regression")), classification=bool(section["heads"].get("classification")),
    )


def _load_index(recipe: dict[str, Any], root: Path) -> DatasetIndex:
    from sonolab.data.registry import load_dataset

    return load_dataset(recipe["dataset"], root)


def _write_problems(path: Path, problems: list[Problem]) -> None:
    write_json_atomic(path, {"count": len(problems), "problems": [p.to_dict() for p in problems]})


def _write_predictions(path: Path, ids: list[str], true_av: np.ndarray, true_q: list[str],
                       predicted: dict[str, np.ndarray], predicted_q: list[str]) -> None:
    with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = ["id", *(f"true_{n}" for n in TARGET_NAMES), "true_quadrant", "predicted_quadrant"]
        if "av" in predicted:
            header += [f"predicted_{n}" for n in TARGET_NAMES]
        if "probabilities" in predicted:
            header += [f"p_{q}" for q in QUADRANT_CLASSES]
        writer.writerow(header)
        for row, item_id in enumerate(ids):
            line = [item_id, *(f"{v:.6f}" for v in true_av[row]), true_q[row], predicted_q[row]]
            if "av" in predicted:
                line += [f"{v:.6f}" for v in predicted["av"][row]]
            if "probabilities" in predicted:
                line += [f"{v:.6f}" for v in predicted["probabilities"][row]]
            writer.writerow(line)


def run_bimodal(recipe: dict[str, Any], root: str | Path | None, out_dir: str | Path, resume: bool = False,
                progress: bool = True) -> Path:
    """Train and evaluate every fold x seed of a bimodal recipe; returns the run folder (summary.json inside)."""
    from sonolab.data.splits import make_splits, save_splits
    from sonolab.evaluate.regression import emotion_metrics, plot_av_scatter, plot_quadrant_confusion
    from sonolab.data.cache import FeatureCache, build_feature_cache
    from sonolab.train.bimodal.data import (
        PreparedData, SongDataset, build_table, collect_predictions, freeze_reference, read_lyrics_of,
    )
    from sonolab.train.bimodal.module import BimodalModule, OptimiserSettings
    from sonolab.train.engine import fit
    from sonolab.train.runs import prepare_run_dir, summarize_records

    section = bimodal_section(recipe)
    refuse_classifier_only_training(recipe["training"])
    root = Path(root or recipe.get("root") or "")
    if not str(root) or not root.exists():
        raise DatasetError(f"{root}: dataset root not found (fix: pass --root pointing at the MERGE folder)")
    out_dir = prepare_run_dir(out_dir, recipe, resume)
    training = dict(recipe["training"])
    framing = dict(recipe["framing"])
    cache_dir = Path(recipe.get("cache_dir") or out_dir / "cache")
    settings = FeatureSettings.from_dict(recipe.get("features") or {})
    text_settings = TextSettings.from_dict(section["text"])
    use_audio, use_lyrics = "audio" in section["modalities"], "lyrics" in section["modalities"]

    index = _load_index(recipe, root)
    problems = list(index.problems)
    by_id = index.by_id()
    mels: dict[str, np.ndarray] | None = None
    if use_audio:
        built = build_feature_cache(index.items, settings, cache_dir, progress=progress)
        cache = FeatureCache.open(cache_dir, settings)
        mels = {item_id: cache.get(item_id) for item_id in cache.item_ids}
        problems += built.failures
    tokens = None
    text_model_dir: Path | None = None
    tokenizer = None
    token_cache: Path | None = None
    if use_lyrics:
        text_model_dir = resolve_text_model_dir(text_settings.model_path)
        tokenizer = load_tokenizer(text_model_dir)
        texts, lyric_problems = read_lyrics_of(index.items)
        problems += lyric_problems
        token_dir = cache_dir.with_name(cache_dir.name + "_tokens")  # beside the feature cache, which owns its folder
        tokens, token_cache, _ = cached_tokenize(texts, tokenizer, text_settings.max_length_tokens, text_settings.truncation, token_dir)
    tokenized = set(tokens.ids) if tokens is not None else None
    usable = [item for item in index.items if (mels is None or item.item_id in mels) and (tokenized is None or item.item_id in tokenized)]
    _write_problems(out_dir / "failures.json", problems)
    if not usable:
        raise DatasetError(f"{root}: no usable songs (see {out_dir / 'failures.json'})")
    if progress and problems:
        from rich.console import Console

        Console(stderr=True).print(f"{len(problems)} song(s) or file(s) left out, each with its reason in {out_dir / 'failures.json'}")
    usable_index = DatasetIndex(index.name, index.root, usable, index.classes, [])
    split = dict(recipe.get("split") or {})
    splits = make_splits(usable_index, split.get("strategy", "official"), seed=int(split.get("seed", 0)),
                         n_folds=int(split.get("folds", 5)), val_fraction=float(split.get("val_fraction", 0.15)),
                         test_fraction=float(split.get("test_fraction", 0.15)))
    folds = splits.folds[: split["max_folds"]] if split.get("max_folds") else splits.folds
    save_splits(splits, out_dir / "splits.json")  # for `sonolab audit`

    records: list[dict[str, Any]] = []
    base_lr = float(training.get("lr", 1e-3))
    optimiser = OptimiserSettings(
        audio_lr=float(section["audio_lr"] or base_lr), text_lr=text_settings.learning_rate,
        head_lr=float(section["head_lr"] or base_lr), weight_decay=float(training.get("weight_decay", 0.0)),
    )
    for fold in folds:
        train_ids = fold.train
        fold_settings = freeze_reference(settings, [mels[i] for i in train_ids]) if mels is not None else settings
        train_targets = np.asarray([[by_id[i].targets[n] for n in TARGET_NAMES] for i in train_ids])
        if section["av_midpoint"] == "auto":
            midpoint, agreement = choose_midpoint(train_targets[:, 0], train_targets[:, 1], [by_id[i].label for i in train_ids])
        else:
            midpoint = float(section["av_midpoint"])
            from sonolab.evaluate.regression import quadrants_from_av

            agreement = float(np.mean(np.asarray(quadrants_from_av(train_targets[:, 0], train_targets[:, 1], midpoint))
                                      == np.asarray([by_id[i].label for i in train_ids])))
        data = PreparedData(
            tables={name: build_table(ids, by_id, mels, fold_settings, tokens) for name, ids in fold.partitions().items()},
            settings=fold_settings, problems=problems, token_cache=token_cache,
            truncated_lyrics=list(tokens.truncated) if tokens is not None else [],
        )
        for seed in recipe["seeds"]:
            import lightning as L

            run_dir = out_dir / fold.name / f"seed_{seed}"
            if resume and (run_dir / "metrics.json").is_file():
                records.append(json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")))
                continue
            run_dir.mkdir(parents=True, exist_ok=True)
            L.seed_everything(int(seed), workers=True, verbose=False)
            model = build_bimodal_model(recipe, section, text_model_dir)
            module = BimodalModule(model, optimiser, text_settings if use_lyrics else None,
                                   regression_weight=float(section["loss_weights"].get("regression", 1.0)),
                                   classification_weight=float(section["loss_weights"].get("classification", 1.0)))
            target_frames = int(framing["target_frames"])
            datasets = {name: SongDataset(table, target_frames, fold_settings.floor_db,
                                          framing["crop"] if name == "train" else framing["eval_crop"], int(seed))
                        for name, table in data.tables.items()}
            fit_training = dict(training)
            if str(fit_training.get("monitor", "val_loss")) == "val_accuracy" and not section["heads"].get("classification"):
                fit_training["monitor"] = "val_loss"
            outcome = fit(module, datasets["train"], data.tables["train"].labels.tolist(), datasets["val"],
                          data.tables["val"].labels.tolist(), fit_training, int(seed), run_dir, resume=resume, progress=progress)
            test_table = data.tables["test"]
            predicted = collect_predictions(model, datasets["test"], batch_size=int(training["batch_size"]))
            true_av = test_table.targets.numpy()
            true_q = [QUADRANT_CLASSES[i] for i in test_table.labels.tolist()]
            predicted_q = _quadrant_predictions(predicted, section["quadrant_from"], midpoint)
            metrics = emotion_metrics(true_av if "av" in predicted else None, predicted.get("av"), true_q, predicted_q)
            if "av" in predicted and section["quadrant_from"] == "classifier":
                derived = _quadrant_predictions(predicted, "regression", midpoint)
                metrics["derived_quadrant_accuracy"] = float(np.mean(np.asarray(derived) == np.asarray(true_q)))
            figures = run_dir / "figures"
            if "av" in predicted:
                plot_av_scatter(true_av, predicted["av"], figures / "av_scatter.png", midpoint)
            plot_quadrant_confusion(true_q, predicted_q, figures / "quadrant_confusion.png")
            _write_predictions(run_dir / "predictions.csv", test_table.ids, true_av, true_q, predicted, predicted_q)
            save_bimodal_model(run_dir, model, recipe, section, fold_settings, midpoint, tokenizer)
            record = {"fold": fold.name, "seed": int(seed), "fit": outcome.to_dict(), "test": {**metrics, "count": len(true_q)},
                      "av_midpoint": midpoint, "midpoint_label_agreement": agreement,
                      "dataset_max_reference": fold_settings.dataset_max_reference,
                      "partition_sizes": {k: len(t.ids) for k, t in data.tables.items()}}
            write_json_atomic(run_dir / "metrics.json", record)
            records.append(record)

    names = tuple(dict.fromkeys(name for record in records for name in record["test"] if name != "count"))
    summary = {
        "task": "bimodal",
        "dataset": recipe["dataset"],
        "modalities": section["modalities"],
        **summarize_records(records, metric_names=names),
        "failures": len(problems),
        "songs_used": len(usable),
        "truncated_lyrics": len(tokens.truncated) if tokens is not None else 0,
        "unknown_token_fraction": tokens.unknown_fraction if tokens is not None else None,
    }
    if tokens is not None and tokens.unknown_fraction > 0.5:
        summary["warnings"] = [f"{tokens.unknown_fraction:.0%} of lyric tokens are unknown to the tokenizer in "
                               f"{text_settings.model_path}: it does not fit these lyrics"]
    write_json_atomic(out_dir / "summary.json", summary)
    return out_dir


def save_bimodal_model(folder: Path, model: BimodalModel, recipe: dict[str, Any], section: dict[str, Any],
                       settings: FeatureSettings, midpoint: float, tokenizer: Any | None) -> Path:
    """`model.safetensors` + `model.json` (task bimodal: audio tower config, bimodal section, frozen feature
    settings, framing, midpoint) via the engine's exporter, plus the text tower's config and tokenizer in `text/`."""
    from sonolab.train.export import save_model

    save_model(folder, model, dict(recipe["model"]), list(QUADRANT_CLASSES), settings, dict(recipe["framing"]), task="bimodal",
               extra={"bimodal": section, "av_midpoint": midpoint, "target_names": list(TARGET_NAMES)})
    if model.text_encoder is not None and tokenizer is not None:
        model.text_encoder.encoder.config.save_pretrained(str(folder / "text"))
        tokenizer.save_pretrained(str(folder / "text"))
    return folder


def find_model_dirs(run_dir: str | Path) -> list[Path]:
    """Folders with a bimodal model.json: `run_dir` itself, or every fold/seed folder of the run."""
    run_dir = Path(run_dir)
    candidates = [run_dir] if (run_dir / "model.json").is_file() else sorted(p.parent for p in run_dir.glob("*/seed_*/model.json"))
    found = [c for c in candidates if json.loads((c / "model.json").read_text(encoding="utf-8")).get("task") == "bimodal"]
    if not found:
        raise ConfigError(f"{run_dir}: no bimodal model here (fix: pass the RUN_DIR that `sonolab train` wrote for a bimodal recipe)")
    return found


def _predict_with(folder: Path, audio_paths: list[str | Path] | None, lyrics_paths: list[str | Path] | None,
                  count: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Raw outputs (`av`, `probabilities`) of one saved model for `count` songs, and its model.json."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig

    from sonolab.audio.features import apply_reference_and_floor
    from sonolab.audio.framing import fit_frames
    from sonolab.data.merge import read_lyrics
    from sonolab.models.text import load_tokenizer, tokenize_texts
    from sonolab.train.bimodal.data import song_log_mel_re_unity

    payload = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    section = payload["bimodal"]
    modalities = section["modalities"]
    if "audio" in modalities and len(audio_paths or []) != count:
        raise ConfigError("this model needs one audio file per song")
    if "lyrics" in modalities and len(lyrics_paths or []) != count:
        raise ConfigError("this model needs lyrics: pass --lyrics FILE once per audio file, in the same order")
    text_config = AutoConfig.from_pretrained(str(folder / "text"), local_files_only=True) if "lyrics" in modalities else None
    model = build_bimodal_model({"model": payload["model"]}, section, None, text_config=text_config)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    model.eval()
    settings = FeatureSettings.from_dict(payload["feature_settings"])
    text_settings = TextSettings.from_dict(section["text"])
    batch: dict[str, torch.Tensor] = {}
    if "audio" in modalities:
        target = int(payload["framing"]["target_frames"])
        mels = [fit_frames(apply_reference_and_floor(song_log_mel_re_unity(p, settings), settings), target, settings.floor_db,
                           payload["framing"]["eval_crop"]).features for p in audio_paths]
        batch["mel"] = torch.from_numpy(np.stack(mels)[:, None].astype(np.float32))
    if "lyrics" in modalities:
        texts = {str(i): read_lyrics(p) for i, p in enumerate(lyrics_paths)}
        tokens = tokenize_texts(texts, load_tokenizer(folder / "text"), text_settings.max_length_tokens, text_settings.truncation)
        batch["input_ids"], batch["attention_mask"] = tokens.input_ids, tokens.attention_mask
    with torch.no_grad():
        outputs = model(batch)
    predictions: dict[str, np.ndarray] = {}
    if "av" in outputs:
        predictions["av"] = outputs["av"].numpy()
    if "logits" in outputs:
        predictions["probabilities"] = torch.softmax(outputs["logits"], dim=1).numpy()
    return predictions, payload


def predict_bimodal(run_dir: str | Path, audio_paths: list[str | Path] | None,
                    lyrics_paths: list[str | Path] | None = None) -> list[dict[str, Any]]:
    """Arousal, valence and quadrant for each song, averaged over every fold/seed model of the run.

    `audio_paths[i]` and `lyrics_paths[i]` are one song; a model trained on one modality needs only that one.
    """
    count = len(audio_paths) if audio_paths else len(lyrics_paths or [])
    if count == 0:
        raise ConfigError("no songs given: pass audio files (and --lyrics files for a lyrics model)")
    outputs = [_predict_with(folder, audio_paths, lyrics_paths, count) for folder in find_model_dirs(run_dir)]
    averaged = {key: np.mean([o[key] for o, _ in outputs], axis=0) for key in outputs[0][0]}
    section = outputs[0][1]["bimodal"]
    midpoint = float(np.mean([payload["av_midpoint"] for _, payload in outputs]))
    quadrants = _quadrant_predictions(averaged, section["quadrant_from"], midpoint)
    results = []
    for row in range(count):
        entry: dict[str, Any] = {
            "audio": str(audio_paths[row]) if audio_paths else None,
            "lyrics": str(lyrics_paths[row]) if lyrics_paths else None,
            "quadrant": quadrants[row],
            "models": len(outputs),
        }
        if "av" in averaged:
            entry.update({name: float(averaged["av"][row, c]) for c, name in enumerate(TARGET_NAMES)})
        if "probabilities" in averaged:
            entry["quadrant_probabilities"] = {q: float(p) for q, p in zip(QUADRANT_CLASSES, averaged["probabilities"][row])}
        results.append(entry)
    return results
