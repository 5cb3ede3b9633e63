"""Evaluation of term -> setting generators on contributors held out of training, and across splits.

Rules (each figure says where its evidence comes from):
- the vocabulary is decided on the training contributors only (`splits.vocabulary_split`);
- "held-out" figures use held-out rows only: the response error (RMS over a log-spaced 20 Hz-20 kHz
  grid of generated minus human magnitude response, dB) against each held-out human setting of the same
  term; the share of held-out human settings whose curve is closer to the model's setting than to the
  per-term median's (terms with >= 10 held-out rows); silhouette / Davies-Bouldin of held-out rows; the
  human reference (a classifier fitted on training humans, scored on held-out humans);
- "training-fit diagnostics" are computed against the training contributors and say how well a generator
  fits the data it was fitted on (including the descriptor accuracy of generated settings under a
  classifier fitted on training humans): never evidence of generalisation;
- no metric that cannot fail (outputs are clipped into the plug-in's limits by construction, so "inside
  the limits" is not reported);
- one split is one draw: `evaluate_splits` repeats the contributor split with several seeds and reports
  mean and std for the model, the per-term median and random settings, plus a paired comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sonolab.audio.eq import HIGH_SHELF_CUTOFF_INDEX, log_frequency_grid_hz, responses_db
from sonolab.data.safe import SafeDataset
from sonolab.semantic_eq.generators import SettingGenerator
from sonolab.semantic_eq.normalise import to_unit

EVALUATION_SAMPLE_RATE_HZ = 44100
GRID_POINTS = 128
SAMPLES_PER_TERM = 50
CLOSER_SHARE_MIN_ROWS = 10  # terms with at least this many held-out rows get the closer-to-model share
CLASSIFIER_GRID_STEP = 4  # the classifier sees every 4th grid point (32 log-spaced bands)


def _classifier(features: np.ndarray, labels: np.ndarray):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    subsample = FunctionTransformer(lambda x: np.asarray(x)[:, ::CLASSIFIER_GRID_STEP])
    return make_pipeline(subsample, StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced", C=0.5)).fit(features, labels)


def _cluster_scores(points: np.ndarray, labels: np.ndarray) -> dict[str, float | None]:
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    values, counts = np.unique(labels, return_counts=True)
    keep = np.isin(labels, values[counts >= 2])
    if len(np.unique(labels[keep])) < 2:
        return {"silhouette": None, "davies_bouldin": None}
    return {"silhouette": float(silhouette_score(points[keep], labels[keep])), "davies_bouldin": float(davies_bouldin_score(points[keep], labels[keep]))}


def _cutoff_spread_hz(cutoffs_hz: np.ndarray) -> dict[str, float]:
    p10, p50, p90 = np.percentile(np.asarray(cutoffs_hz, dtype=np.float64), [10, 50, 90])
    return {"p10_hz": float(p10), "median_hz": float(p50), "p90_hz": float(p90), "spread_p10_p90_octaves": float(np.log2(p90 / p10))}


def _rms_db(generated: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(generated draws, targets) RMS over the grid, dB."""
    return np.sqrt(np.mean((generated[:, None, :] - targets[None, :, :]) ** 2, axis=2))


def _candidates(generator: SettingGenerator, term: str, seed: int) -> list:
    return generator.sample(term, SAMPLES_PER_TERM, seed) if generator.name == "random" else [generator.generate(term)]


def _response_errors(generator: SettingGenerator, curves: np.ndarray, labels: np.ndarray, terms: list[str], grid_hz: np.ndarray, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per term, the RMS error (dB) of the generator against every row of `curves` with that term."""
    per_row: dict[str, np.ndarray] = {}
    for term in terms:
        targets = curves[labels == term]
        if len(targets) == 0 or term not in generator.terms:
            continue
        generated = responses_db(_candidates(generator, term, seed), grid_hz, EVALUATION_SAMPLE_RATE_HZ)
        per_row[term] = _rms_db(generated, targets).mean(axis=0)  # random: averaged over its draws
    rows = np.concatenate(list(per_row.values())) if per_row else np.zeros(0)
    summary = {
        "response_rmse_db_rows": float(rows.mean()) if rows.size else None,
        "response_rmse_db_terms": float(np.mean([v.mean() for v in per_row.values()])) if per_row else None,
        "response_rmse_db_per_term": {t: float(v.mean()) for t, v in per_row.items()},
    }
    return per_row, summary


def evaluate_generators(
    dataset: SafeDataset,
    train_index: np.ndarray,
    holdout_index: np.ndarray,
    generators: list[SettingGenerator],
    seed: int = 0,
) -> dict[str, Any]:
    """One split: held-out figures (held-out rows only) and training-fit diagnostics, JSON-ready.

    `train_index` and `holdout_index` must already be restricted to the training vocabulary
    (`splits.vocabulary_split`).
    """
    grid_hz = log_frequency_grid_hz(GRID_POINTS)
    vectors, labels = dataset.vectors(), dataset.labels()
    train_labels, holdout_labels = labels[train_index], labels[holdout_index]
    train_curves = responses_db(vectors[train_index], grid_hz, EVALUATION_SAMPLE_RATE_HZ)
    holdout_curves = responses_db(vectors[holdout_index], grid_hz, EVALUATION_SAMPLE_RATE_HZ)
    vocabulary = [t for t in dict.fromkeys(train_labels.tolist())]
    vocabulary.sort(key=lambda t: (-int(np.sum(train_labels == t)), t))
    holdout_terms = [t for t in vocabulary if np.any(holdout_labels == t)]
    results: dict[str, Any] = {
        "grid": {"points": GRID_POINTS, "minimum_hz": 20.0, "maximum_hz": 20000.0, "sample_rate_hz": EVALUATION_SAMPLE_RATE_HZ},
        "seed": int(seed),
        "rows_train": int(len(train_index)),
        "rows_holdout": int(len(holdout_index)),
        "contributors_train": int(len({dataset.rows[i].contributor_id for i in train_index})),
        "contributors_holdout": int(len({dataset.rows[i].contributor_id for i in holdout_index})),
        "vocabulary": vocabulary,
        "train_term_counts": {t: int(np.sum(train_labels == t)) for t in vocabulary},
        "holdout_term_counts": {t: int(np.sum(holdout_labels == t)) for t in holdout_terms},
        "held_out": {"generators": {}},
        "training_fit": {"generators": {}},
    }
    held_out, training_fit = results["held_out"], results["training_fit"]
    errors_by_generator = {}
    for generator in generators:
        per_row, summary = _response_errors(generator, holdout_curves, holdout_labels, holdout_terms, grid_hz, seed)
        errors_by_generator[generator.name] = per_row
        report = dict(summary)
        if hasattr(generator, "encode") and len(holdout_index):
            report.update({f"latent_{k}": v for k, v in _cluster_scores(generator.encode(vectors[holdout_index]), holdout_labels).items()})
        if "bright" in holdout_terms and "bright" in generator.terms:
            report["bright_high_shelf_cutoff_samples"] = _cutoff_spread_hz(np.array([s.high_shelf_cutoff_hz for s in generator.sample("bright", SAMPLES_PER_TERM, seed)]))
        held_out["generators"][generator.name] = report
        _, fit = _response_errors(generator, train_curves, train_labels, vocabulary, grid_hz, seed)
        training_fit["generators"][generator.name] = fit
    if "model" in errors_by_generator and "median" in errors_by_generator:
        model_rows, median_rows = errors_by_generator["model"], errors_by_generator["median"]
        held_out["closer_to_model_than_median"] = {
            term: {"share": float(np.mean(model_rows[term] < median_rows[term])), "rows": int(len(model_rows[term]))}
            for term in holdout_terms
            if term in model_rows and term in median_rows and len(model_rows[term]) >= CLOSER_SHARE_MIN_ROWS
        }
    # human reference, held-out rows only: how separable the held-out humans' own settings are
    human: dict[str, Any] = {}
    if len(set(train_labels)) >= 2 and len(holdout_index):
        all_terms = _classifier(train_curves, train_labels)
        human["accuracy_all_terms"] = float(np.mean(all_terms.predict(holdout_curves) == holdout_labels))
        training_fit["classifier"] = all_terms
    pair = ["warm", "bright"]
    pair_train, pair_holdout = np.isin(train_labels, pair), np.isin(holdout_labels, pair)
    if len(set(train_labels[pair_train])) == 2 and pair_holdout.any():
        pair_classifier = _classifier(train_curves[pair_train], train_labels[pair_train])
        human["accuracy_warm_vs_bright"] = float(np.mean(pair_classifier.predict(holdout_curves[pair_holdout]) == holdout_labels[pair_holdout]))
        training_fit["pair_classifier"] = pair_classifier
    if len(holdout_index):
        human.update({f"parameter_space_{k}": v for k, v in _cluster_scores(to_unit(vectors[holdout_index]), holdout_labels).items()})
    bright = vectors[holdout_index][holdout_labels == "bright"]
    if len(bright):
        human["bright_high_shelf_cutoff"] = _cutoff_spread_hz(bright[:, HIGH_SHELF_CUTOFF_INDEX])
    held_out["human"] = human
    # training-fit diagnostic: generated settings scored by classifiers fitted on training humans
    all_terms, pair_classifier = training_fit.pop("classifier", None), training_fit.pop("pair_classifier", None)
    for generator in generators:
        fit = training_fit["generators"][generator.name]
        known = [t for t in vocabulary if t in generator.terms]
        if all_terms is not None and known:
            predictions = all_terms.predict(responses_db([generator.generate(t) for t in known], grid_hz, EVALUATION_SAMPLE_RATE_HZ))
            fit["accuracy_all_terms_generate"] = float(np.mean(predictions == np.array(known)))
        if pair_classifier is not None and all(t in known for t in pair):
            fit["accuracy_warm_vs_bright_generate"] = float(np.mean(pair_classifier.predict(responses_db([generator.generate(t) for t in pair], grid_hz, EVALUATION_SAMPLE_RATE_HZ)) == np.array(pair)))
    return results


# -- several contributor splits -------------------------------------------------------------------------

MODEL_BEATS_MEDIAN_RULE = (
    "the model is preferred only if it has the lower held-out row-mean error in at least 80 % of the splits "
    "and its mean advantage over the median exceeds the split-to-split std of that advantage"
)


def _mean_std(values: list[float]) -> dict[str, float]:
    array = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return {"mean": float(array.mean()) if array.size else float("nan"), "std": float(array.std(ddof=1)) if array.size > 1 else 0.0, "n": int(array.size)}


def evaluate_splits(
    dataset: SafeDataset,
    seeds: list[int],
    config: Any = None,
    on_split: Callable[[int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Repeat split -> train -> evaluate for each seed; mean/std of the model, the per-term median and
    random settings, a paired model-vs-median comparison and the closer-to-model share per term.

    `dataset` must be loaded with every term (`min_count_per_term=1`); `config` is an `EqTrainConfig`
    (its seed and holdout fraction are replaced per split).
    """
    from dataclasses import replace

    from sonolab.semantic_eq.generators import MedianGenerator, RandomGenerator
    from sonolab.semantic_eq.train import EqTrainConfig, fit_eq_model

    config = config or EqTrainConfig()
    splits: list[dict[str, Any]] = []
    for seed in seeds:
        model, record = fit_eq_model(dataset, replace(config, seed=int(seed)))
        train_index, holdout_index = record["train_index"], record["holdout_index"]
        median = MedianGenerator.fit(dataset.vectors()[train_index], dataset.labels()[train_index], model.terms)
        result = evaluate_generators(dataset, train_index, holdout_index, [model, median, RandomGenerator(model.terms, int(seed))], int(seed))
        result["training_seconds"] = model.metadata.get("training_seconds")
        splits.append(result)
        if on_split is not None:
            on_split(int(seed), result)
    return summarise_splits(splits, config)


def summarise_splits(splits: list[dict[str, Any]], config: Any = None) -> dict[str, Any]:
    """Aggregate per-split results (see `evaluate_splits`)."""
    names = ["model", "median", "random"]
    held = {name: [s["held_out"]["generators"].get(name, {}) for s in splits] for name in names}
    summary: dict[str, Any] = {"seeds": [s["seed"] for s in splits], "splits": splits, "held_out": {}, "training_fit": {}}
    for key in ("response_rmse_db_rows", "response_rmse_db_terms"):
        summary["held_out"][key] = {name: _mean_std([r.get(key) for r in held[name]]) for name in names}
        summary["training_fit"][key] = {name: _mean_std([s["training_fit"]["generators"].get(name, {}).get(key) for s in splits]) for name in names}
    advantage = [m.get("response_rmse_db_rows") - o.get("response_rmse_db_rows") for m, o in zip(held["median"], held["model"]) if m.get("response_rmse_db_rows") is not None and o.get("response_rmse_db_rows") is not None]
    wins = int(sum(a > 0 for a in advantage))
    stats = _mean_std(advantage)
    model_better = bool(advantage) and wins >= 0.8 * len(advantage) and stats["mean"] > stats["std"]
    summary["paired"] = {
        "median_minus_model_db_per_split": advantage,
        "median_minus_model_db": stats,
        "model_wins": wins,
        "splits": len(advantage),
        "rule": MODEL_BEATS_MEDIAN_RULE,
        "model_beats_median": model_better,
        "better_generator": "model" if model_better else "median",
    }
    shares: dict[str, list[float]] = {}
    rows: dict[str, list[int]] = {}
    for split in splits:
        for term, value in split["held_out"].get("closer_to_model_than_median", {}).items():
            shares.setdefault(term, []).append(value["share"])
            rows.setdefault(term, []).append(value["rows"])
    summary["held_out"]["closer_to_model_than_median"] = {term: {**_mean_std(values), "rows_mean": float(np.mean(rows[term]))} for term, values in shares.items()}
    human_keys = ("accuracy_all_terms", "accuracy_warm_vs_bright", "parameter_space_silhouette")
    summary["held_out"]["human"] = {key: _mean_std([s["held_out"]["human"].get(key) for s in splits]) for key in human_keys}
    summary["held_out"]["model_latent_silhouette"] = _mean_std([r.get("latent_silhouette") for r in held["model"]])
    summary["vocabularies"] = [s["vocabulary"] for s in splits]
    summary["rows_holdout"] = [s["rows_holdout"] for s in splits]
    return summary


# -- tables ---------------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 2, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.{digits}f}"


def evaluation_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of one split's held-out figures: model vs median vs random, human reference."""
    held = results["held_out"]
    names = list(held["generators"])
    human = held.get("human", {})
    header = ["held-out metric", *names, "human held-out"]
    rows: list[list[str]] = []

    def add(label: str, key: str, digits: int = 2, human_value: Any = None, percent: bool = False) -> None:
        rows.append([label, *[_fmt(held["generators"][n].get(key), digits) for n in names], _fmt(human_value, digits, percent) if human_value is not None else "-"])

    add("response RMS error, dB (mean over held-out rows; lower is better)", "response_rmse_db_rows")
    add("response RMS error, dB (mean over held-out terms)", "response_rmse_db_terms")
    for term, value in held.get("closer_to_model_than_median", {}).items():
        rows.append([f"'{term}': share of {value['rows']} held-out settings closer to the model's than to the median's", f"{100 * value['share']:.1f}%", "-", "-", "-"][: len(header)])
    rows.append(["silhouette of held-out rows (model latent | parameter space)", *[_fmt(held["generators"][n].get("latent_silhouette"), 3) for n in names], _fmt(human.get("parameter_space_silhouette"), 3)])
    rows.append(["descriptor accuracy on held-out humans, all terms (classifier fitted on training humans)", *["-" for _ in names], _fmt(human.get("accuracy_all_terms"), percent=True)])
    rows.append(["descriptor accuracy on held-out humans, warm vs bright", *["-" for _ in names], _fmt(human.get("accuracy_warm_vs_bright"), percent=True)])
    bright_human = human.get("bright_high_shelf_cutoff", {})
    for key, label in (("median_hz", "median, Hz"), ("spread_p10_p90_octaves", "p10-p90 spread, octaves")):
        digits = 0 if key.endswith("_hz") else 2
        rows.append([f"'bright' high-shelf cutoff of {SAMPLES_PER_TERM} samples, {label}", *[_fmt(held["generators"][n].get("bright_high_shelf_cutoff_samples", {}).get(key), digits) for n in names], _fmt(bright_human.get(key), digits)])
    return header, rows


def training_fit_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of one split's training-fit diagnostics (not evidence of generalisation)."""
    fit = results["training_fit"]["generators"]
    names = list(fit)
    header = ["training-fit diagnostic", *names]
    rows = [
        ["response RMS error on training rows, dB (mean over rows)", *[_fmt(fit[n].get("response_rmse_db_rows")) for n in names]],
        ["response RMS error on training rows, dB (mean over terms)", *[_fmt(fit[n].get("response_rmse_db_terms")) for n in names]],
        ["generated term settings labelled correctly, all terms (classifier fitted on training humans)", *[_fmt(fit[n].get("accuracy_all_terms_generate"), percent=True) for n in names]],
        ["generated term settings labelled correctly, warm vs bright", *[_fmt(fit[n].get("accuracy_warm_vs_bright_generate"), percent=True) for n in names]],
    ]
    return header, rows


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def table_markdown(results: dict[str, Any]) -> str:
    """One split: the held-out table, then the training-fit diagnostics under their own heading."""
    return _markdown(*evaluation_table(results)) + "\n\nTraining-fit diagnostics (fitted and scored on the training contributors; not held-out evidence):\n\n" + _markdown(*training_fit_table(results))


def splits_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the multi-split summary: mean ± std over splits."""
    names = ["model", "median", "random"]
    header = [f"held-out, {len(summary['seeds'])} contributor splits (seeds {', '.join(map(str, summary['seeds']))})", *names]

    def ms(value: dict[str, float], digits: int = 2, percent: bool = False) -> str:
        if value is None or value.get("n", 0) == 0:
            return "-"
        scale = 100.0 if percent else 1.0
        suffix = "%" if percent else ""
        return f"{scale * value['mean']:.{digits if not percent else 1}f}{suffix} ± {scale * value['std']:.{digits if not percent else 1}f}{suffix}"

    held = summary["held_out"]
    rows = [
        ["response RMS error, dB, mean over held-out rows (mean ± std over splits)", *[ms(held["response_rmse_db_rows"][n]) for n in names]],
        ["response RMS error, dB, mean over held-out terms", *[ms(held["response_rmse_db_terms"][n]) for n in names]],
    ]
    paired = summary["paired"]
    advantage = paired["median_minus_model_db"]
    rows.append([
        "paired: median error minus model error, dB (positive = model better); splits the model wins",
        f"{advantage['mean']:+.3f} ± {advantage['std']:.3f}; {paired['model_wins']} of {paired['splits']}", "-", "-",
    ])
    for term, value in held.get("closer_to_model_than_median", {}).items():
        rows.append([f"'{term}': share of held-out settings closer to the model's than to the median's (~{value['rows_mean']:.0f} rows/split, {value['n']} splits)", ms(value, percent=True), "-", "-"])
    rows.append(["training-fit: response RMS error on training rows, dB", *[ms(summary["training_fit"]["response_rmse_db_rows"][n]) for n in names]])
    return header, rows


def splits_markdown(summary: dict[str, Any]) -> str:
    paired = summary["paired"]
    verdict = (
        "The model beats the per-term median beyond the split-to-split spread."
        if paired["model_beats_median"]
        else "The model does **not** beat the per-term median beyond the split-to-split spread; the per-term median is the better generator."
    )
    per_split = ", ".join(f"{value:+.3f}" for value in paired["median_minus_model_db_per_split"])
    return _markdown(*splits_table(summary)) + f"\n\nPer split, median minus model (dB): {per_split}. Rule: {paired['rule']}. {verdict}"
