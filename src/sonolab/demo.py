"""The main job on the bundled real sample, offline: verify, features, grouped split + audit, a small
CNN trained and evaluated, semantic EQ for "warm" and "bright", and one report folder.

Each stage reports what it did and how long it took; a stage that fails is reported as failed in the
report and on the console (with its reason), never hidden.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from rich.console import Console

from sonolab.atomic import write_json_atomic, write_text_atomic
from sonolab.train.feature_section import logmel_settings
from sonolab.errors import ConfigError

console = Console()
DEMO_DATASET = "fsdd"
CONTACT_SHEET_EXAMPLES = 10


def bundled_sample_root() -> Path:
    """The bundled FSDD sample shipped inside the package."""
    return Path(str(files("sonolab") / "assets" / "fsdd_sample"))


def demo_recipe_path() -> Path:
    """The demo recipe shipped inside the package (`sonolab/assets/recipes/demo_fsdd.yaml`), so `sonolab demo`
    runs from a wheel; `recipes/demo_fsdd.yaml` in the source tree is the users' readable copy (a test keeps
    the two identical)."""
    path = Path(str(files("sonolab") / "assets" / "recipes" / "demo_fsdd.yaml"))
    if not path.is_file():
        raise ConfigError(f"{path}: demo recipe missing from the installed package (fix: reinstall sonolab)")
    return path


@dataclass
class StageLog:
    """What each stage did: name, status, seconds, a one-line result."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def run(self, name: str, action: Callable[[], str]) -> bool:
        console.rule(f"[bold]{name}")
        started = time.perf_counter()
        try:
            result = action()
            status = "ok"
        except Exception as error:  # a failed stage is reported, and the demo goes on with what it can
            result = f"{type(error).__name__}: {error}"
            status = "failed"
            console.print(f"[red]{name} failed:[/] {result}")
        seconds = time.perf_counter() - started
        self.rows.append({"stage": name, "status": status, "seconds": round(seconds, 1), "result": result})
        console.print(f"{name}: {status} in {seconds:.1f} s: {result}")
        return status == "ok"


def run_demo(out_dir: Path, epochs: int | None = None, progress: bool = True) -> tuple[Path, list[str]]:
    """Run the whole demo into `out_dir`; returns the path of `report.md` and the names of failed stages."""
    from sonolab.audio.features import apply_reference_and_floor
    from sonolab.data.audit import audit_splits
    from sonolab.data.cache import FeatureCache, build_feature_cache, dataset_max_reference
    from sonolab.data.contact_sheet import save_contact_sheet
    from sonolab.data.registry import load_dataset
    from sonolab.data.splits import load_splits, make_splits, save_splits
    from sonolab.data.verify import verify_dataset
    from sonolab.train.config import load_recipe

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = bundled_sample_root()
    overrides = [f"training.epochs={epochs}"] if epochs is not None else []
    recipe = load_recipe(demo_recipe_path(), overrides)
    recipe["cache_dir"] = str(out_dir / "cache")
    settings = logmel_settings(recipe["features"])
    stages = StageLog()
    state: dict[str, Any] = {}

    def verify() -> str:
        report = verify_dataset(DEMO_DATASET, root, progress=progress)
        write_json_atomic(out_dir / "verify.json", report.to_dict())
        state["verify"] = report.to_dict()
        problems = f"{len(report.problems)} problem(s) (listed in verify.json)" if report.problems else "no problems"
        return f"{report.file_count} files, {report.class_count} classes, {report.group_count} {report.group_unit}, {problems}"

    def features() -> str:
        index = load_dataset(DEMO_DATASET, root)
        result = build_feature_cache(index.items, settings, out_dir / "cache", progress=progress)
        state["index"] = index
        state["cache"] = FeatureCache.open(out_dir / "cache", settings)
        failed = f"; {len(result.failures)} failed (listed in cache failures)" if result.failures else ""
        return f"{result.cached_count} log-mels cached ({settings.n_mels} mel bands, {settings.sample_rate_hz} Hz){failed}"

    def split_and_audit() -> str:
        split = recipe["split"]
        splits = make_splits(state["index"], split["strategy"], seed=int(split["seed"]), n_folds=int(split["folds"]),
                             val_fraction=float(split["val_fraction"]), test_fraction=float(split["test_fraction"]))
        save_splits(splits, out_dir / "splits.json")
        audit = audit_splits(splits, root=root, progress=progress)
        write_json_atomic(out_dir / "audit.json", audit.to_dict())
        state["splits"] = splits
        fold = splits.folds[0]
        groups = {name: sorted({splits.groups[i] for i in ids}) for name, ids in fold.partitions().items()}
        state["split_groups"] = groups
        verdict = "no leak" if audit.ok else f"{len(audit.leaks)} LEAK(S) (listed in audit.json)"
        return (f"speakers: train {', '.join(groups['train'])}; val {', '.join(groups['val'])}; "
                f"test {', '.join(groups['test'])}; audit (groups, parents, identical and near-identical audio): {verdict}")

    def contact_sheet() -> str:
        cache, splits, index = state["cache"], state["splits"], state["index"]
        reference = dataset_max_reference(cache, splits.folds[0].train, settings)
        frozen = settings.with_updates(dataset_max_reference=reference)
        examples = {}
        for item in index.items:  # one example per class, in class order
            if item.item_id in cache and item.label not in examples:
                examples[item.label] = item
        chosen = [examples[label] for label in sorted(examples)][:CONTACT_SHEET_EXAMPLES]
        matrices = [apply_reference_and_floor(cache.get(item.item_id), frozen) for item in chosen]
        save_contact_sheet(matrices, [f"{item.item_id}: {item.label}" for item in chosen], out_dir / "contact_sheet.png", frozen)
        return f"{len(chosen)} spectrograms (dB re the training maximum) in contact_sheet.png"

    def train() -> str:
        from sonolab.evaluate.report import write_report
        from sonolab.train.runner import run_recipe

        run_dir = run_recipe(recipe, root=root, out_dir=out_dir / "run", resume=(out_dir / "run").exists(), progress=progress)
        write_report(run_dir)
        for name in ("confusion_matrix.png",):
            shutil.copyfile(run_dir / "figures" / name, out_dir / name)
        curves = sorted((run_dir / "figures").glob("curves_*.png"))
        if curves:
            shutil.copyfile(curves[0], out_dir / "training_curves.png")
        trained_splits = load_splits(run_dir / "splits.json")
        if [f.partitions() for f in trained_splits.folds] != [f.partitions() for f in state["splits"].folds]:
            raise RuntimeError("the training run's split differs from the audited split")
        import json

        summary = json.loads((run_dir / "summary.json").read_text())
        state["summary"] = summary
        metrics = summary["metrics"]
        baseline = summary.get("baseline")
        beside = (f"; classical baseline ({baseline['description']}) on the same split: accuracy "
                  f"{baseline['metrics']['accuracy']['mean']:.3f}") if baseline else ""
        return (f"test accuracy {metrics['accuracy']['mean']:.3f}, balanced accuracy {metrics['balanced_accuracy']['mean']:.3f}, "
                f"macro-F1 {metrics['macro_f1']['mean']:.3f} on unseen speaker(s) {', '.join(state['split_groups']['test'])}{beside}")

    def semantic_eq() -> str:
        from sonolab.semantic_eq.demo import run_eq_demo

        summary = run_eq_demo(out_dir / "eq")
        state["eq"] = summary
        parts = []
        for term, values in summary["terms"].items():
            loudness = values.get("loudness_change_lu")
            loudness_text = f", loudness change {loudness:+.2f} LU" if loudness is not None else ""
            parts.append(f"{term}: spectral centroid {values['spectral_centroid_change_hz']:+.0f} Hz{loudness_text}")
        return "; ".join(parts)

    stages.run("1. verify the bundled sample", verify)
    if stages.run("2. log-mel features into the cache", features):
        if stages.run("3. speaker-grouped split + leakage audit", split_and_audit):
            stages.run("4. spectrogram contact sheet", contact_sheet)
            stages.run("5. train and evaluate a small CNN", train)
    stages.run("6. semantic EQ: warm and bright", semantic_eq)
    return _write_demo_report(out_dir, stages, state, recipe), [row["stage"] for row in stages.rows if row["status"] != "ok"]


def _metrics_payload(state: dict[str, Any], stages: StageLog) -> dict[str, Any]:
    summary = state.get("summary", {})
    return {
        "stages": stages.rows,
        "dataset": {"name": DEMO_DATASET, "root": "bundled sample (sonolab/assets/fsdd_sample)", "verify": state.get("verify")},
        "split_groups": state.get("split_groups"),
        "classification": {"metrics": summary.get("metrics"), "folds": summary.get("folds"), "seeds": summary.get("seeds")},
        "semantic_eq": state.get("eq"),
    }


def _write_demo_report(out_dir: Path, stages: StageLog, state: dict[str, Any], recipe: dict[str, Any]) -> Path:
    write_json_atomic(out_dir / "metrics.json", _metrics_payload(state, stages))
    lines = ["# sonolab demo report", "",
             "Offline run on the bundled real sample: 300 Free Spoken Digit Dataset recordings (6 speakers, 10 digits, "
             "CC BY-SA 4.0), plus semantic EQ from the bundled SAFE-DB copy.", "",
             "## Stages", "", "| stage | status | seconds | result |", "|---|---|---|---|"]
    lines += [f"| {row['stage']} | {row['status']} | {row['seconds']} | {row['result']} |" for row in stages.rows]
    summary = state.get("summary")
    if summary:
        lines += ["", "## Classification on an unseen speaker", "",
                  f"Recipe `recipes/demo_fsdd.yaml` ({recipe['model']['name']}, attention {recipe['model'].get('attention')}), "
                  f"dB reference `{recipe['features']['db_reference']}` over the training partition, model selected on validation "
                  f"`{summary.get('monitor')}`; the test speaker is never used for selection. "
                  "A single split of 300 clips: expect a wide spread; the benchmark `benchmarks/fsdd_loso.py` runs all six speakers.", "",
                  "| metric | CNN, test value | classical baseline, same split |", "|---|---|---|"]
        baseline_metrics = (summary.get("baseline") or {}).get("metrics", {})
        for name, stats in summary["metrics"].items():
            if isinstance(stats, dict) and "mean" in stats:
                other = baseline_metrics.get(name, {}).get("mean")
                lines.append(f"| {name} | {stats['mean']:.3f} | {'n/a' if other is None else f'{other:.3f}'} |")
        if summary.get("baseline"):
            lines += ["", f"Baseline: {summary['baseline']['description']} (sonolab's `baseline:` recipe section), scored on the "
                      "same train/validation/test speakers."]
        lines += ["", "Full run report: [run/report.md](run/report.md) ([HTML](run/report.html)).", ""]
    for caption, name in (("Confusion matrix", "confusion_matrix.png"), ("Training curves", "training_curves.png"),
                          ("Spectrogram contact sheet", "contact_sheet.png"), ("EQ response curves", "eq/eq_responses.png")):
        if (out_dir / name).is_file():
            lines += [f"## {caption}", "", f"![{caption}]({name})", ""]
    eq = state.get("eq")
    if eq:
        lines += ["## Semantic EQ", "", f"Input: {eq.get('input')}. Settings in `eq/eq_settings.json`.", "",
                  "| term | spectral centroid change (Hz) | loudness change (LU) |", "|---|---|---|"]
        for term, values in eq["terms"].items():
            loudness = values.get("loudness_change_lu")
            lines.append(f"| {term} | {values['spectral_centroid_change_hz']:+.0f} | {loudness:+.2f} |" if loudness is not None
                         else f"| {term} | {values['spectral_centroid_change_hz']:+.0f} | n/a |")
    failed = [row["stage"] for row in stages.rows if row["status"] != "ok"]
    if failed:
        lines += ["", f"**{len(failed)} stage(s) failed:** {', '.join(failed)} (reasons in the table above)."]
    report = write_text_atomic(out_dir / "report.md", "\n".join(lines) + "\n")
    console.print(f"\nreport: {report}")
    if failed:
        console.print(f"[red]{len(failed)} stage(s) failed: {', '.join(failed)}")
    return report
