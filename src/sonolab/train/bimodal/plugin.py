"""The `bimodal` task plugin: MERGE audio + lyrics -> valence/arousal and quadrants for one fold x seed.

Recipe sections used: `features`, `framing`, `model` (the audio tower), `training`, `augment`
(`spec_augment` and `spectrogram_warp` on the audio tower's input), `seeds` and `bimodal`
(`sonolab.train.bimodal.settings`). `bimodal.modalities: [audio]` or `[lyrics]` gives the
single-modality runs from the same recipe. The runner owns splits, trials, folds, seeds and the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.atomic import write_json_atomic
from sonolab.train.feature_section import logmel_settings
from sonolab.errors import DatasetError
from sonolab.train.bimodal.settings import bimodal_section, bimodal_validation_metrics, refuse_unsupported_options


@dataclass
class BimodalData:
    """One trial's inputs: the log-mel cache (audio), the tokenised lyrics, and what was left out."""

    by_id: dict[str, Any]
    section: dict[str, Any]
    cache: Any | None
    tokens: Any | None
    tokenizer: Any | None
    text_model_dir: Path | None
    usable: set[str]
    problems: list[dict[str, str]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


class BimodalTask:
    """Audio tower + lyrics tower, fused; regression of arousal/valence and/or quadrant classification."""

    name = "bimodal"

    def check(self, recipe: dict[str, Any]) -> None:
        from sonolab.train.feature_section import refuse_non_logmel

        refuse_non_logmel(recipe["features"], self.name)
        bimodal_section(recipe)
        refuse_unsupported_options(recipe)

    def default_monitor(self, recipe: dict[str, Any]) -> str:
        return "val_loss"

    def validation_metrics(self, recipe: dict[str, Any]) -> tuple[str, ...]:
        return bimodal_validation_metrics(bimodal_section(recipe))

    def headline_metrics(self, recipe: dict[str, Any]) -> tuple[str, ...]:
        from sonolab.evaluate.regression import EMOTION_METRICS

        return (*EMOTION_METRICS, "derived_quadrant_accuracy")

    def load_index(self, recipe: dict[str, Any], root: Path) -> Any:
        from sonolab.data.registry import load_dataset

        from sonolab.data.merge_parts import require_targets

        if not str(root) or not Path(root).exists():
            raise DatasetError(f"{root}: dataset root not found (fix: pass --root pointing at the MERGE folder)")
        index = load_dataset(recipe["dataset"], root)
        if bimodal_section(recipe)["heads"].get("regression"):
            require_targets(index)  # e.g. 4Q has quadrants only: valence/arousal regression is refused, not faked
        return index

    def prepare(self, recipe: dict[str, Any], index: Any, folds: list[Any], cache_dir: Path, progress: bool) -> BimodalData:
        from sonolab.data.cache import FeatureCache, build_feature_cache
        from sonolab.models.text import TextSettings, cached_tokenize, load_tokenizer, resolve_text_model_dir
        from sonolab.data.merge import read_lyrics_of
        from sonolab.train.classification import failure_dict, trial_cache_dir
        from sonolab.train.distributed import barrier
        from sonolab.train.runs import is_rank_zero

        section = bimodal_section(recipe)
        problems: list[dict[str, str]] = []
        cache = None
        if "audio" in section["modalities"]:
            settings = logmel_settings(recipe["features"])
            directory = trial_cache_dir(cache_dir, settings)
            if is_rank_zero():
                build_feature_cache(index.items, settings, directory, progress=progress)
            barrier()
            cache = FeatureCache.open(directory, settings)
            problems += [failure_dict(failure) for failure in cache.failures]
        tokens = tokenizer = text_model_dir = None
        if "lyrics" in section["modalities"]:
            text_settings = TextSettings.from_dict(section["text"])
            text_model_dir = resolve_text_model_dir(text_settings.model_path)
            tokenizer = load_tokenizer(text_model_dir)
            texts, lyric_problems = read_lyrics_of(index.items)
            problems += [failure_dict(problem) for problem in lyric_problems]
            token_dir = cache_dir / "tokens"
            tokens, _, _ = cached_tokenize(texts, tokenizer, text_settings.max_length_tokens, text_settings.truncation, token_dir)
        usable = {item.item_id for item in index.items
                  if (cache is None or item.item_id in cache) and (tokens is None or item.item_id in set(tokens.ids))}
        if not usable:
            raise DatasetError(f"{index.root}: no usable songs ({len(problems)} problem(s), e.g. {problems[:1]})")
        extras: dict[str, Any] = {"modalities": section["modalities"], "songs_used": len(usable),
                                  "truncated_lyrics": len(tokens.truncated) if tokens is not None else 0,
                                  "unknown_token_fraction": tokens.unknown_fraction if tokens is not None else None}
        if tokens is not None and tokens.unknown_fraction > 0.5:
            extras["warnings"] = [f"{tokens.unknown_fraction:.0%} of lyric tokens are unknown to the tokenizer in "
                                  f"{text_model_dir}: it does not fit these lyrics"]
        return BimodalData(index.by_id(), section, cache, tokens, tokenizer, text_model_dir, usable, problems, extras)

    def run(self, recipe: dict[str, Any], prepared: BimodalData, fold: str, partitions: dict[str, list[str]], seed: int,
            out_dir: Path, resume: bool, progress: bool) -> dict[str, Any] | None:
        return train_bimodal_fold_seed(recipe, prepared, fold, partitions, seed, out_dir, resume, progress)


def _midpoint(section: dict[str, Any], train_targets: np.ndarray, train_labels: list[str]) -> tuple[float, float]:
    """The arousal/valence midpoint (chosen on the training partition when `auto`) and its label agreement."""
    from sonolab.evaluate.regression import quadrants_from_av
    from sonolab.train.bimodal.task import choose_midpoint

    if section["av_midpoint"] == "auto":
        return choose_midpoint(train_targets[:, 0], train_targets[:, 1], train_labels)
    midpoint = float(section["av_midpoint"])
    agreement = float(np.mean(np.asarray(quadrants_from_av(train_targets[:, 0], train_targets[:, 1], midpoint)) == np.asarray(train_labels)))
    return midpoint, agreement


def train_bimodal_fold_seed(recipe: dict[str, Any], data: BimodalData, fold: str, partitions: dict[str, list[str]], seed: int,
                            out_dir: Path, resume: bool, progress: bool) -> dict[str, Any] | None:
    """Train, select on validation and score the test songs of one fold with one seed; metrics.json last."""
    import lightning as L

    from sonolab.evaluate.regression import emotion_metrics, plot_av_scatter, plot_quadrant_confusion
    from sonolab.models.bimodal import QUADRANT_CLASSES, TARGET_NAMES
    from sonolab.models.text import TextSettings
    from sonolab.train.bimodal.data import SongDataset, build_table, collect_predictions, freeze_reference
    from sonolab.train.bimodal.module import BimodalModule, OptimiserSettings
    from sonolab.train.bimodal.task import _quadrant_predictions, _write_predictions, build_bimodal_model, save_bimodal_model
    from sonolab.train.config import monitor_mode
    from sonolab.train.data import enabled_options
    from sonolab.train.engine import fit
    from sonolab.train.runs import is_rank_zero

    section, training, framing, by_id = data.section, dict(recipe["training"]), dict(recipe["framing"]), data.by_id
    settings = logmel_settings(recipe["features"])
    train_ids = partitions["train"]
    if not train_ids or not partitions["val"] or not partitions["test"]:
        raise DatasetError(f"fold {fold}: a partition is empty ({ {k: len(v) for k, v in partitions.items()} })")
    fold_settings = freeze_reference(settings, [data.cache.get(i) for i in train_ids]) if data.cache is not None else settings
    train_targets = np.asarray([[by_id[i].targets[n] for n in TARGET_NAMES] for i in train_ids])
    midpoint, agreement = _midpoint(section, train_targets, [by_id[i].label for i in train_ids])
    tables = {name: build_table(ids, by_id, data.cache, fold_settings, data.tokens) for name, ids in partitions.items()}
    text_settings = TextSettings.from_dict(section["text"])
    use_lyrics = "lyrics" in section["modalities"]
    base_lr = float(training.get("lr", 1e-3))
    optimiser = OptimiserSettings(audio_lr=float(section["audio_lr"] or base_lr), text_lr=text_settings.learning_rate,
                                  head_lr=float(section["head_lr"] or base_lr), weight_decay=float(training.get("weight_decay", 0.0)))
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(int(seed), workers=True, verbose=False)
    model = build_bimodal_model(recipe, section, data.text_model_dir)
    module = BimodalModule(model, optimiser, text_settings if use_lyrics else None,
                           regression_weight=float(section["loss_weights"].get("regression", 1.0)),
                           classification_weight=float(section["loss_weights"].get("classification", 1.0)),
                           scheduler=training["scheduler"], max_epochs=int(training["epochs"]),
                           monitor=training["monitor"], monitor_mode=monitor_mode(training), seed=int(seed))
    augment = recipe["augment"]
    datasets = {name: SongDataset(table, int(framing["target_frames"]), fold_settings.floor_db,
                                  framing["crop"] if name == "train" else framing["eval_crop"], int(seed),
                                  spec_augment=enabled_options(augment["spec_augment"]) if name == "train" else None,
                                  spectrogram_warp=enabled_options(augment["spectrogram_warp"]) if name == "train" else None)
                for name, table in tables.items()}
    outcome = fit(module, datasets["train"], tables["train"].labels.tolist(), datasets["val"], tables["val"].labels.tolist(),
                  training, int(seed), out_dir, resume=resume, progress=progress)
    if not is_rank_zero():
        return None

    def score(name: str) -> tuple[dict[str, Any], dict[str, np.ndarray], list[str], list[str], np.ndarray]:
        table = tables[name]
        predicted = collect_predictions(model, datasets[name], batch_size=int(training["batch_size"]))
        true_av = table.targets.numpy()
        true_q = [QUADRANT_CLASSES[i] for i in table.labels.tolist()]
        predicted_q = _quadrant_predictions(predicted, section["quadrant_from"], midpoint)
        metrics = emotion_metrics(true_av if "av" in predicted else None, predicted.get("av"), true_q, predicted_q)
        if "av" in predicted and section["quadrant_from"] == "classifier":
            derived = _quadrant_predictions(predicted, "regression", midpoint)
            metrics["derived_quadrant_accuracy"] = float(np.mean(np.asarray(derived) == np.asarray(true_q)))
        return {**metrics, "count": len(true_q)}, predicted, true_q, predicted_q, true_av

    val_metrics = score("val")[0]
    test_metrics, predicted, true_q, predicted_q, true_av = score("test")
    figures = out_dir / "figures"
    if "av" in predicted:
        plot_av_scatter(true_av, predicted["av"], figures / "av_scatter.png", midpoint)
    plot_quadrant_confusion(true_q, predicted_q, figures / "quadrant_confusion.png")
    _write_predictions(out_dir / "predictions.csv", tables["test"].ids, true_av, true_q, predicted, predicted_q)
    save_bimodal_model(out_dir, model, recipe, section, fold_settings, midpoint, data.tokenizer)
    record = {"fold": fold, "seed": int(seed), "fit": outcome.to_dict(), "val": val_metrics, "test": test_metrics,
              "val_monitor": outcome.best_score, "av_midpoint": midpoint, "midpoint_label_agreement": agreement,
              "dataset_max_reference": fold_settings.dataset_max_reference,
              "partition_sizes": {k: len(t.ids) for k, t in tables.items()}}
    write_json_atomic(out_dir / "metrics.json", record)
    return record
