"""Run reports: `report.md` and a self-contained `report.html` (figures embedded as base64), with
mean ± std over folds and seeds, per-fold and per-seed tables, a confusion matrix and training curves.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.atomic import write_text_atomic
from sonolab.errors import SonolabError

TABLE_METRICS = {
    "classification": ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc_ovr"),
    "bimodal": ("quadrant_accuracy", "quadrant_macro_f1", "arousal_ccc", "valence_ccc", "mean_ccc"),
}


def table_metrics(summary: dict[str, Any]) -> list[str]:
    """The metric columns of the per-fold, per-seed and per-run tables: the task's headline metrics it has."""
    wanted = TABLE_METRICS.get(str(summary.get("task") or "classification"), TABLE_METRICS["classification"])
    return [name for name in wanted if name in summary["metrics"]]


def find_records(run_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every fold/seed `metrics.json` under the run (best trial only when the run is a sweep)."""
    summary = load_summary(run_dir)
    base = run_dir / summary["best_trial"] if summary.get("best_trial") else run_dir
    paths = sorted(path for path in base.glob("*/seed_*/metrics.json"))
    return [(path.parent, json.loads(path.read_text(encoding="utf-8"))) for path in paths]


def load_summary(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise SonolabError(f"{path}: no summary (fix: finish the run with `sonolab train RECIPE --out {run_dir} --resume`)")
    return json.loads(path.read_text(encoding="utf-8"))


def _format(stats: dict[str, Any] | None) -> str:
    if not stats or stats.get("mean") is None:
        return "n/a"
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def _difference(model: dict[str, Any] | None, baseline: dict[str, Any] | None) -> str:
    if not model or not baseline or model.get("mean") is None or baseline.get("mean") is None:
        return "n/a"
    return f"{model['mean'] - baseline['mean']:+.3f}"


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _value(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _tables(summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    columns = table_metrics(summary)
    tables = [(
        "Test partitions: mean over folds of each fold's seed-averaged score",
        ["metric", "mean", "std across folds", "std across seeds", "folds", "seeds"],
        [[name, _number(stats.get("mean")), _number(stats.get("std")), _number(stats.get("std_seeds")),
          str(stats.get("n_folds", "")), str(stats.get("n_seeds", ""))] for name, stats in summary["metrics"].items()],
    )]
    baseline = summary.get("baseline")
    if baseline:
        names = [name for name in ("accuracy", "balanced_accuracy", "macro_f1") if name in summary["metrics"]]
        tables.append((f"The model beside a classical baseline ({baseline['description']}), same folds, same convention",
                       ["metric", "model: mean ± std across folds", "baseline: mean ± std across folds", "model - baseline"],
                       [[name, _format(summary["metrics"][name]), _format(baseline["metrics"].get(name)),
                         _difference(summary["metrics"][name], baseline["metrics"].get(name))] for name in names]))
    spreading = summary.get("group_spreading")
    if spreading:
        names = [name for name in ("accuracy", "balanced_accuracy", "macro_f1") if name in summary["metrics"]]
        rows = [[f"test: {name}", _format(summary["metrics"][name]), _format(spreading["without"].get(name)),
                 _difference(summary["metrics"][name], spreading["without"].get(name))] for name in names]
        rows += [[f"validation: {name}", _format(spreading["val"].get(name)), _format(spreading["val_without"].get(name)),
                  _difference(spreading["val"].get(name), spreading["val_without"].get(name))]
                 for name in names if name in spreading.get("val", {})]
        tables.append((f"Group label spreading (transductive; k = {spreading['neighbours']}, alpha = {spreading['alpha']}, "
                       f"graph = {spreading.get('graph', 'inputs')}): "
                       "the same models with and without it, mean ± std across folds",
                       ["partition: metric", "with spreading", "without", "difference"], rows))
    ablation = summary.get("modality_ablation")
    if ablation:
        names = [name for name in ("accuracy", "balanced_accuracy", "macro_f1") if name in summary["metrics"]]
        tables.append((f"Modality ablation: each set fitted in every fold of this run (headline: {summary.get('headline_modalities')}), "
                       "mean ± std across folds", ["modalities", *names],
                       [[set_name, *[_format(entry["metrics"].get(name)) for name in names]] for set_name, entry in ablation.items()]))
    regression = summary.get("regression")
    if regression:
        names = list(next(iter(regression.values())))
        tables.append(("Ridge regression heads (test partitions), mean ± std across folds", ["modalities", *names],
                       [[set_name, *[_format(metrics.get(name)) for name in names]] for set_name, metrics in regression.items()]))
    tables.append(("Per fold (mean ± std over seeds)", ["fold", "seeds", *columns],
                   [[row["fold"], str(row["seeds"]), *[_format(row[m]) for m in columns]] for row in summary["per_fold"]]))
    tables.append(("Per seed (mean ± std over folds)", ["seed", "folds", *columns],
                   [[str(row["seed"]), str(row["folds"]), *[_format(row[m]) for m in columns]] for row in summary["per_seed"]]))
    tables.append(("Every run", ["fold", "seed", "best epoch", "epochs run", "test items", *columns],
                   [[row["fold"], str(row["seed"]), _value(row.get("best_epoch")), _value(row.get("epochs_run")), str(row["test_count"]),
                     *[_value(row.get(m)) for m in columns]] for row in summary["runs"]]))
    if summary.get("trials"):
        validation = [f"val_{name}" for name in ("accuracy", "balanced_accuracy", "macro_f1") if any(name in t["val_metrics"] for t in summary["trials"])]
        tables.append(("Sweep trials: validation scores only (the selected trial's test scores are above; the others' are never shown)",
                       ["trial", "values", "selected", f"val monitor ({summary.get('monitor')})", *validation],
                       [[t["trial"], json.dumps(t["sweep_values"]), "yes" if t.get("selected") else "", _format(t["val_monitor"]),
                         *[_format(t["val_metrics"].get(name.removeprefix("val_"))) for name in validation]]
                        for t in summary["trials"]]))
    return tables


def build_figures(run_dir: Path) -> tuple[list[tuple[str, Path]], dict[str, Any]]:
    """Pooled confusion matrix over every fold/seed and the first run's training curves; returns figures and extras."""
    from sonolab.evaluate.plots import plot_confusion_matrix, plot_training_curves
    from sonolab.train.engine import read_csv_log

    records = find_records(run_dir)
    figures: list[tuple[str, Path]] = []
    extras: dict[str, Any] = {}
    if not records:
        return figures, extras
    figure_dir = run_dir / "figures"
    if "classes" in records[0][1]["test"]:
        classes = records[0][1]["test"]["classes"]
        pooled = np.sum([np.asarray(record["test"]["confusion_matrix"]) for _, record in records], axis=0)
        figures.append(("Confusion matrix (test partitions, every fold and seed pooled)",
                        plot_confusion_matrix(pooled, classes, figure_dir / "confusion_matrix.png")))
        recall = pooled.diagonal() / np.clip(pooled.sum(axis=1), 1, None)
        extras["per_class_recall"] = {name: float(value) for name, value in zip(classes, recall)}
    else:
        figures += _quadrant_figures(records, figure_dir)
    for seed_dir, record in records[:3]:
        rows = read_csv_log(seed_dir)
        if rows:
            name = f"curves_{record['fold']}_seed{record['seed']}.png"
            figures.append((f"Training curves: {record['fold']}, seed {record['seed']} (best epoch {record['fit']['best_epoch']})",
                            plot_training_curves(rows, figure_dir / name, record["fit"]["best_epoch"])))
    return figures, extras


def _quadrant_figures(records: list[tuple[Path, dict[str, Any]]], figure_dir: Path) -> list[tuple[str, Path]]:
    """Bimodal runs: the quadrant confusion matrix pooled over every fold/seed's predictions.csv, and the first
    runs' valence/arousal scatter plots (drawn during training)."""
    import csv

    from sonolab.evaluate.regression import plot_quadrant_confusion

    true_q: list[str] = []
    predicted_q: list[str] = []
    for seed_dir, _ in records:
        with (seed_dir / "predictions.csv").open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                true_q.append(row["true_quadrant"])
                predicted_q.append(row["predicted_quadrant"])
    figures = [("Quadrant confusion matrix (test partitions, every fold and seed pooled)",
                plot_quadrant_confusion(true_q, predicted_q, figure_dir / "quadrant_confusion.png"))]
    for seed_dir, record in records[:3]:
        scatter = seed_dir / "figures" / "av_scatter.png"
        if scatter.is_file():
            figures.append((f"Predicted vs true arousal and valence: {record['fold']}, seed {record['seed']}", scatter))
    return figures


def run_notes(run_dir: Path, summary: dict[str, Any]) -> list[str]:
    """What a reader must know before the tables: leaks allowed (first), protocol, conventions, exclusions."""
    from sonolab.evaluate.metrics import MACRO_DEFINITION

    notes = []
    audit_path = run_dir / "leak_audit.json"
    if audit_path.is_file():
        audit = json.loads(audit_path.read_text(encoding="utf-8"))
        reason = audit.get("allow_leaks_reason") or audit.get("allow_leaks")
        if audit.get("allowed") and reason:
            notes.append(f"WARNING: this run was trained although the leakage audit found {len(audit.get('leaks', []))} "
                         f"leak(s), with --allow-leaks; the reason given: \"{reason}\". Its test scores may be inflated.")
        if audit.get("content_check"):
            notes.append(f"Leakage audit before training: groups and augmented parents checked; audio content {audit['content_check']}.")
    notes.append(f"Task: {summary.get('task')}; folds: {', '.join(map(str, summary.get('folds', [])))}; seeds: {summary.get('seeds')}; "
                 f"model selection on validation `{summary.get('monitor')}` (test partitions never used for selection).")
    notes.append(f"Summary convention: {summary.get('convention', 'mean and std over folds and seeds')}. {MACRO_DEFINITION}.")
    for note in summary.get("notes", []):
        notes.append(str(note))
    if summary.get("feature_failures") or summary.get("dataset_problems"):
        notes.append(f"Excluded: {summary.get('feature_failures', 0)} failed file(s), {summary.get('dataset_problems', 0)} dataset problem(s); see failures.json.")
    return notes


def write_report(run_dir: str | Path) -> tuple[Path, Path]:
    """Write `report.md` and `report.html` into the run folder."""
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    figures, extras = build_figures(run_dir)
    title = f"sonolab report: {summary.get('dataset', '?')} ({run_dir.name})"
    notes = run_notes(run_dir, summary)
    lines = [f"# {title}", "", *[line for note in notes for line in (note, "")]]
    html_parts = [f"<h1>{html.escape(title)}</h1>", *[f"<p>{html.escape(note)}</p>" for note in notes]]
    for caption, header, rows in _tables(summary):
        lines += [f"## {caption}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
        html_parts.append(f"<h2>{html.escape(caption)}</h2><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
                          + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows) + "</table>")
    if extras.get("per_class_recall"):
        rows = [[name, f"{value:.3f}"] for name, value in extras["per_class_recall"].items()]
        lines += ["## Per-class recall (pooled test predictions)", "", "| class | recall |", "|---|---|", *["| " + " | ".join(r) + " |" for r in rows], ""]
        html_parts.append("<h2>Per-class recall (pooled test predictions)</h2><table><tr><th>class</th><th>recall</th></tr>"
                          + "".join(f"<tr><td>{html.escape(a)}</td><td>{b}</td></tr>" for a, b in rows) + "</table>")
    for caption, path in figures:
        relative = path.relative_to(run_dir).as_posix()
        lines += [f"## {caption}", "", f"![{caption}]({relative})", ""]
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        html_parts.append(f"<h2>{html.escape(caption)}</h2><img alt='{html.escape(caption)}' src='data:image/png;base64,{encoded}'>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}img{max-width:100%}")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(html_parts)}</body></html>\n"
    return write_text_atomic(run_dir / "report.md", "\n".join(lines) + "\n"), write_text_atomic(run_dir / "report.html", page)
