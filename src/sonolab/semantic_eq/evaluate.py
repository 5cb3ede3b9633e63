"""Held-out evaluation of term -> setting generators, each beside the two reference generators.

All metrics use rows of contributors the model never saw (`grouped_holdout`):
- response error: RMS over a log-spaced 20 Hz-20 kHz grid of (generated - human) magnitude response in
  dB, for each held-out human setting of the same term;
- descriptor accuracy: a classifier (scikit-learn logistic regression on response curves) trained on the
  training contributors' human settings labels generated settings (warm vs bright, and all kept terms);
- silhouette and Davies-Bouldin of held-out latents (the model) vs the normalised parameters themselves;
- the spread of high-shelf cutoffs for "bright": generated samples vs held-out human settings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sonolab.audio.eq import HIGH_SHELF_CUTOFF_INDEX, log_frequency_grid_hz, responses_db
from sonolab.data.safe import SafeDataset
from sonolab.semantic_eq.generators import SettingGenerator
from sonolab.semantic_eq.normalise import to_unit

EVALUATION_SAMPLE_RATE_HZ = 44100
GRID_POINTS = 128
SAMPLES_PER_TERM = 50


CLASSIFIER_GRID_STEP = 4  # the classifier sees every 4th grid point (32 log-spaced bands)


def _classifier(features: np.ndarray, labels: np.ndarray):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(_Subsample(), StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced", C=0.5))
    return model.fit(features, labels)


class _Subsample:
    """Keep every CLASSIFIER_GRID_STEP-th column (a stateless scikit-learn transformer)."""

    def fit(self, features: np.ndarray, labels: np.ndarray | None = None) -> "_Subsample":
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features)[:, ::CLASSIFIER_GRID_STEP]

    def fit_transform(self, features: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return self.transform(features)


def _cluster_scores(points: np.ndarray, labels: np.ndarray) -> dict[str, float | None]:
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    values, counts = np.unique(labels, return_counts=True)
    keep = np.isin(labels, values[counts >= 2])
    if len(np.unique(labels[keep])) < 2:
        return {"silhouette": None, "davies_bouldin": None}
    return {
        "silhouette": float(silhouette_score(points[keep], labels[keep])),
        "davies_bouldin": float(davies_bouldin_score(points[keep], labels[keep])),
    }


def _cutoff_spread_hz(cutoffs_hz: np.ndarray) -> dict[str, float]:
    cutoffs_hz = np.asarray(cutoffs_hz, dtype=np.float64)
    p10, p50, p90 = np.percentile(cutoffs_hz, [10, 50, 90])
    return {
        "p10_hz": float(p10),
        "median_hz": float(p50),
        "p90_hz": float(p90),
        "spread_p10_p90_octaves": float(np.log2(p90 / p10)),
        "fraction_above_8khz": float(np.mean(cutoffs_hz > 8000.0)),
    }


def evaluate_generators(
    dataset: SafeDataset,
    train_index: np.ndarray,
    holdout_index: np.ndarray,
    generators: list[SettingGenerator],
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric for every generator, plus the human held-out reference, as one JSON-ready dict."""
    grid_hz = log_frequency_grid_hz(GRID_POINTS)
    vectors, labels = dataset.vectors(), dataset.labels()
    train_labels, holdout_labels = labels[train_index], labels[holdout_index]
    train_curves = responses_db(vectors[train_index], grid_hz, EVALUATION_SAMPLE_RATE_HZ)
    holdout_curves = responses_db(vectors[holdout_index], grid_hz, EVALUATION_SAMPLE_RATE_HZ)
    shared_terms = [t for t in dataset.terms if np.any(train_labels == t) and np.any(holdout_labels == t)]
    all_terms_classifier = _classifier(train_curves, train_labels)
    pair = ["warm", "bright"]
    pair_mask = np.isin(train_labels, pair)
    pair_classifier = _classifier(train_curves[pair_mask], train_labels[pair_mask]) if len(np.unique(train_labels[pair_mask])) == 2 else None
    results: dict[str, Any] = {
        "grid": {"points": GRID_POINTS, "minimum_hz": 20.0, "maximum_hz": 20000.0, "sample_rate_hz": EVALUATION_SAMPLE_RATE_HZ},
        "rows_train": int(len(train_index)),
        "rows_holdout": int(len(holdout_index)),
        "holdout_term_counts": {t: int(np.sum(holdout_labels == t)) for t in dataset.terms if np.any(holdout_labels == t)},
        "terms_evaluated": shared_terms,
        "generators": {},
    }
    # human reference: what a classifier / clustering achieves on the held-out humans themselves
    holdout_pair = np.isin(holdout_labels, pair)
    human: dict[str, Any] = {
        "accuracy_all_terms": float(np.mean(all_terms_classifier.predict(holdout_curves) == holdout_labels)),
        "accuracy_warm_vs_bright": float(np.mean(pair_classifier.predict(holdout_curves[holdout_pair]) == holdout_labels[holdout_pair])) if pair_classifier is not None and holdout_pair.any() else None,
        **{f"parameter_space_{key}": value for key, value in _cluster_scores(to_unit(vectors[holdout_index]), holdout_labels).items()},
    }
    bright_holdout = vectors[holdout_index][holdout_labels == "bright"]
    if len(bright_holdout):
        human["bright_high_shelf_cutoff"] = _cutoff_spread_hz(bright_holdout[:, HIGH_SHELF_CUTOFF_INDEX])
    results["human_holdout"] = human

    for generator in generators:
        report: dict[str, Any] = {}
        per_term_error = {}
        errors_by_row = []
        for term in shared_terms:
            targets = holdout_curves[holdout_labels == term]
            candidates = generator.sample(term, SAMPLES_PER_TERM, seed) if generator.name == "random" else [generator.generate(term)]
            generated = responses_db(candidates, grid_hz, EVALUATION_SAMPLE_RATE_HZ)
            # RMS over the grid for every (generated, human) pair, averaged over generated draws
            rms = np.sqrt(np.mean((generated[:, None, :] - targets[None, :, :]) ** 2, axis=2)).mean(axis=0)
            per_term_error[term] = float(rms.mean())
            errors_by_row.extend(rms.tolist())
        report["response_rmse_db_per_term"] = per_term_error
        report["response_rmse_db_rows"] = float(np.mean(errors_by_row)) if errors_by_row else None
        report["response_rmse_db_terms"] = float(np.mean(list(per_term_error.values()))) if per_term_error else None

        known = [t for t in dataset.terms if t in generator.terms and t in set(train_labels)]
        centroid_settings = [generator.generate(t) for t in known]
        sampled = {t: generator.sample(t, SAMPLES_PER_TERM, seed) for t in known}
        centroid_predictions = all_terms_classifier.predict(responses_db(centroid_settings, grid_hz, EVALUATION_SAMPLE_RATE_HZ))
        report["accuracy_all_terms_generate"] = float(np.mean(centroid_predictions == np.array(known)))
        sample_curves = {t: responses_db(s, grid_hz, EVALUATION_SAMPLE_RATE_HZ) for t, s in sampled.items()}
        report["accuracy_all_terms_samples"] = float(np.mean([np.mean(all_terms_classifier.predict(c) == t) for t, c in sample_curves.items()]))
        if pair_classifier is not None and all(t in known for t in pair):
            report["accuracy_warm_vs_bright_generate"] = float(np.mean([pair_classifier.predict(responses_db([generator.generate(t)], grid_hz, EVALUATION_SAMPLE_RATE_HZ))[0] == t for t in pair]))
            report["accuracy_warm_vs_bright_samples"] = float(np.mean([np.mean(pair_classifier.predict(sample_curves[t]) == t) for t in pair]))
        if "bright" in known:
            report["bright_high_shelf_cutoff_generate_hz"] = float(generator.generate("bright").high_shelf_cutoff_hz)
            report["bright_high_shelf_cutoff_samples"] = _cutoff_spread_hz(np.array([s.high_shelf_cutoff_hz for s in sampled["bright"]]))
        report["all_outputs_within_limits"] = bool(all(s.within_limits() for s in centroid_settings + [x for v in sampled.values() for x in v]))
        if hasattr(generator, "encode"):
            report.update({f"latent_{key}": value for key, value in _cluster_scores(generator.encode(vectors[holdout_index]), holdout_labels).items()})
        results["generators"][generator.name] = report
    return results


def _fmt(value: Any, digits: int = 2, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.{digits}f}"


def evaluation_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the model vs median vs random table, with the human held-out reference."""
    names = list(results["generators"])
    human = results["human_holdout"]
    header = ["metric", *names, "human held-out"]
    rows: list[list[str]] = []

    def add(label: str, key: str, digits: int = 2, percent: bool = False, human_value: Any = None) -> None:
        rows.append([label, *[_fmt(results["generators"][n].get(key), digits, percent) for n in names], _fmt(human_value, digits, percent) if human_value is not None else "-"])

    add("response RMS error, dB (mean over held-out rows; lower is better)", "response_rmse_db_rows")
    add("response RMS error, dB (mean over terms)", "response_rmse_db_terms")
    add("descriptor accuracy warm vs bright, term setting", "accuracy_warm_vs_bright_generate", percent=True, human_value=human.get("accuracy_warm_vs_bright"))
    add(f"descriptor accuracy warm vs bright, {SAMPLES_PER_TERM} samples/term", "accuracy_warm_vs_bright_samples", percent=True)
    add("descriptor accuracy all terms, term setting", "accuracy_all_terms_generate", percent=True, human_value=human.get("accuracy_all_terms"))
    add(f"descriptor accuracy all terms, {SAMPLES_PER_TERM} samples/term", "accuracy_all_terms_samples", percent=True)
    rows.append(["silhouette, held-out (latent | parameter space)", *[_fmt(results["generators"][n].get("latent_silhouette"), 3) for n in names], _fmt(human.get("parameter_space_silhouette"), 3)])
    rows.append(["Davies-Bouldin, held-out (lower is better)", *[_fmt(results["generators"][n].get("latent_davies_bouldin"), 2) for n in names], _fmt(human.get("parameter_space_davies_bouldin"), 2)])
    bright_human = human.get("bright_high_shelf_cutoff", {})

    def spread(name: str, key: str) -> str:
        value = results["generators"][name].get("bright_high_shelf_cutoff_samples")
        return "-" if not value else f"{value[key]:.0f}" if key.endswith("_hz") else f"{value[key]:.2f}"

    rows.append(["'bright' high-shelf cutoff, term setting, Hz", *[_fmt(results["generators"][n].get("bright_high_shelf_cutoff_generate_hz"), 0) for n in names], "-"])
    for key, label in (("p10_hz", "p10, Hz"), ("median_hz", "median, Hz"), ("p90_hz", "p90, Hz"), ("spread_p10_p90_octaves", "p10-p90 spread, octaves"), ("fraction_above_8khz", "fraction above 8 kHz")):
        rows.append([f"'bright' high-shelf cutoff samples {label}", *[spread(n, key) for n in names], (f"{bright_human[key]:.0f}" if key.endswith("_hz") else f"{bright_human[key]:.2f}") if bright_human else "-"])
    rows.append(["all outputs inside plug-in limits", *[str(results["generators"][n].get("all_outputs_within_limits")) for n in names], "-"])
    return header, rows


def table_markdown(results: dict[str, Any]) -> str:
    header, rows = evaluation_table(results)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
