"""CPU models in one run, on the same splits: each `*_cpu.yaml` recipe beside openSMILE + linear SVM, functionals +
linear SVM (sonolab's built-in baseline, as the `*_cpu.yaml` recipe configures it), MFCC statistics + RBF SVM and, with --cnn, the CNN recipe.

    python benchmarks/cpu_models.py                                   # FSDD (../shared/data/fsdd), leave-one-speaker-out
    python benchmarks/cpu_models.py --esc50 ROOT --emodb ROOT --cnn   # any ESC-50- or EmoDB-layout roots too
    python benchmarks/cpu_models.py --cnn fsdd --cache DIR            # the CNN for FSDD only; features cached in DIR

With --cnn the CNN recipe trains in a child process started before the other rows, beside them.

The leakage audit's content check is off in these runs (`audit.content=never`: it is timed in
benchmarks/leak_audit.py, and it would repeat for every model); groups are still audited.
Prints accuracy, unweighted accuracy (balanced) and macro-F1 as the mean over folds of each fold's seed mean,
the std across folds and the std across seeds, with each model's wall time, the CPU time of this process and its
workers, and the load average (timings on a shared machine are pessimistic).

The openSMILE row's linear SVM uses C in (1e-4, 1e-3, 1e-2), the low end of sonolab's default grid: on ComParE's
6,373 standardised features every inner CV measured chose the smallest C, and larger C only slow liblinear down
(docs/benchmarks.md, "CPU recipes"). The MFCC row is a fixed model (C=10, gamma "scale": nothing is tuned).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RECIPES = {"fsdd": "fsdd_cpu", "esc50": "esc50_cpu", "emodb": "emodb_cpu"}
CNN_RECIPES = {"fsdd": "fsdd_cnn", "esc50": "esc50_cnn", "emodb": "emodb_cnn"}


def _cpu_s() -> float:
    """CPU seconds of this process and its finished workers (joblib's inner-CV processes, feature workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _row(name: str, summary: dict, timing: tuple[float, float, float]) -> str:
    cells = []
    for metric in ("accuracy", "balanced_accuracy", "macro_f1"):
        stats = summary["metrics"].get(metric, {})
        cells.append(f"{stats['mean']:.1%} ± {stats['std']:.1%} (seeds ± {stats.get('std_seeds') or 0:.1%})" if stats.get("mean") is not None else "n/a")
    wall_s, cpu_s, load = timing
    return f"| {name} | " + " | ".join(cells) + f" | {wall_s / 60:.1f} min | {cpu_s / 60:.1f} min | {load:.1f} |"


def _timed(function, *args):
    started, cpu = time.perf_counter(), _cpu_s()
    result = function(*args)
    return result, (time.perf_counter() - started, _cpu_s() - cpu, os.getloadavg()[1])


def _run(recipe: dict | Path, root: Path, out: Path, overrides: list[str]) -> tuple[dict, tuple[float, float, float]]:
    import json

    from sonolab.train.config import load_recipe, validate_recipe
    from sonolab.train.runner import run

    resolved = load_recipe(recipe, overrides) if isinstance(recipe, Path) else validate_recipe(recipe)
    run_dir, timing = _timed(lambda: run(resolved, root=root, out_dir=out, progress=False))
    return json.loads((run_dir / "summary.json").read_text()), timing


class BackgroundRun:
    """A recipe trained by `python -m sonolab train` in a child process started now, so a slow row (the CNN) runs
    beside the others instead of after them; `finish()` waits for it and returns its summary and its own wall time,
    CPU time (the child's rusage from wait4, so it is not mixed into the other rows' CPU) and the load average."""

    def __init__(self, recipe: Path, root: Path, out: Path, overrides: list[str]) -> None:
        command = [sys.executable, "-m", "sonolab", "train", str(recipe), "--root", str(root), "--out", str(out),
                   "--no-progress"]
        for override in overrides:
            command += ["--set", override]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out, self.log = out, out.parent / f"{out.name}.log"
        self.started = time.perf_counter()
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def finish(self) -> tuple[dict, tuple[float, float, float]]:
        import json

        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        timing = (time.perf_counter() - self.started, usage.ru_utime + usage.ru_stime, os.getloadavg()[1])
        if self.process.returncode != 0:
            raise RuntimeError(f"{self.out}: training exited with {self.process.returncode} (log: {self.log})")
        return json.loads((self.out / "summary.json").read_text()), timing


def _baseline_of(recipe: Path) -> dict:
    """The classical baseline a recipe names (its `baseline` section's features and head, sonolab's defaults
    filled in), whether or not the recipe runs it itself: the same baseline a user of that recipe would see."""
    from sonolab.train.config import load_recipe

    section = load_recipe(recipe, [])["baseline"]
    return {"features": dict(section["features"]), "head": dict(section["head"])}


def mfcc_svm(dataset: str, root: Path) -> dict:
    """MFCC statistics (20 coefficients' mean and std over time, librosa) + RBF SVM (C=10, gamma "scale"; fixed, so
    nothing is chosen on a test fold) on sonolab's own splits of the dataset; per-fold metrics as sonolab's summary."""
    import librosa
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from sonolab.audio.io import load_audio
    from sonolab.data.registry import load_dataset
    from sonolab.data.splits import make_splits
    from sonolab.evaluate.metrics import classification_metrics
    from sonolab.train.summary import summarize_records

    index = load_dataset(dataset, root)
    sample_rate_hz = {"fsdd": 8000, "emodb": 16000, "esc50": 22050}[dataset]
    n_fft = {8000: 256, 16000: 512, 22050: 1024}[sample_rate_hz]
    vectors = {}
    for item in index.items:
        audio, _ = load_audio(item.path, target_sample_rate_hz=sample_rate_hz, mono=True)
        mfcc = librosa.feature.mfcc(y=audio[0], sr=sample_rate_hz, n_mfcc=20, n_fft=n_fft, hop_length=n_fft // 4, n_mels=40)
        vectors[item.item_id] = np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)])
    labels = {item.item_id: item.label for item in index.items}
    classes = list(index.classes)
    strategy = "official" if dataset == "esc50" else "loso"
    records = []
    for fold in make_splits(index, strategy).folds:
        parts = fold.partitions()
        fit_ids, test_ids = parts["train"] + parts["val"], parts["test"]
        model = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=10.0, gamma="scale"))
        model.fit(np.stack([vectors[i] for i in fit_ids]), [labels[i] for i in fit_ids])
        predicted = model.predict(np.stack([vectors[i] for i in test_ids]))
        one_hot = np.eye(len(classes))[[classes.index(p) for p in predicted]]
        test = classification_metrics(np.asarray([classes.index(labels[i]) for i in test_ids]), one_hot, classes)
        records.append({"fold": fold.name, "seed": 0, "test": test})
    return summarize_records(records, ("accuracy", "balanced_accuracy", "macro_f1"))


ROWS = ("recipe", "opensmile", "functionals", "mfcc")


def benchmark(dataset: str, root: Path, work: Path, cnn: bool, cache: Path | None = None,
              rows: tuple[str, ...] = ROWS) -> list[str]:
    split = {"fsdd": {"strategy": "loso"}, "emodb": {"strategy": "loso"}, "esc50": {"strategy": "official"}}[dataset]
    lines = [f"### {dataset} at {root}", "",
             "| model | accuracy | UA (balanced) | macro-F1 | wall | CPU (all processes) | load (5 min) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]

    def say(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    for line in lines:
        print(line, flush=True)
    shared = [f"cache_dir={cache}"] if cache else []  # features from (or into) one cache folder shared by every row
    # The CNN starts first, in its own process, and trains while the classical rows run (their wall times overlap
    # it; each row's CPU time is its own).
    background = BackgroundRun(REPO / "recipes" / f"{CNN_RECIPES[dataset]}.yaml", root, work / "cnn",
                               ["baseline.enabled=false", "audit.content=never", *shared]) if cnn else None
    if "recipe" in rows:
        summary, timing = _run(REPO / "recipes" / f"{RECIPES[dataset]}.yaml", root, work / "cpu",
                               ["baseline.enabled=false", "audit.content=never", *shared])
        say(_row(f"`{RECIPES[dataset]}.yaml` (head selected on inner CV: {summary.get('best_trial')})", summary, timing))
    baseline = _baseline_of(REPO / "recipes" / f"{RECIPES[dataset]}.yaml")
    for row, name, features, head in (
            ("opensmile", "openSMILE ComParE_2016 + linear SVM", {"kind": "opensmile", "feature_set": "ComParE_2016"},
             {"name": "linear_svm", "c_grid": [0.0001, 0.001, 0.01]}),
            ("functionals", f"functionals + linear SVM (sonolab's baseline: {baseline['features']}, {baseline['head']})",
             baseline["features"], baseline["head"])):
        if row not in rows:
            continue
        recipe = {"task": "classical", "dataset": dataset, "features": features, "split": split,
                  "head": head, "baseline": {"enabled": False}, "audit": {"content": "never"},
                  **({"cache_dir": str(cache)} if cache else {})}
        summary, timing = _run(recipe, root, work / name.split()[0], [])
        say(_row(name, summary, timing))
    if "mfcc" in rows:
        summary, timing = _timed(mfcc_svm, dataset, root)
        say(_row("MFCC statistics + RBF SVM (C=10, fixed)", summary, timing))
    if background is not None:
        summary, timing = background.finish()
        say(_row(f"`{CNN_RECIPES[dataset]}.yaml` (in a child process beside the rows above)", summary, timing))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fsdd", type=Path, default=REPO.parent / "shared" / "data" / "fsdd")
    parser.add_argument("--esc50", type=Path, default=None)
    parser.add_argument("--emodb", type=Path, default=None)
    parser.add_argument("--cnn", nargs="*", choices=tuple(CNN_RECIPES), default=None,
                        help="also the CNN recipe, for these datasets (none named: every one; hours on a CPU for ESC-50)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="one feature cache folder for every row (reused when warm: the wall times then exclude extraction)")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS),
                        help="which of the other rows to run (default: all; e.g. to split them over processes)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sonolab-cpu-models-"))
    print(f"run folders under {work}", flush=True)
    for dataset, root in (("fsdd", args.fsdd), ("esc50", args.esc50), ("emodb", args.emodb)):
        if root is not None and Path(root).is_dir():
            cnn = args.cnn is not None and (not args.cnn or dataset in args.cnn)
            benchmark(dataset, Path(root), work / dataset, cnn, args.cache / dataset if args.cache else None,
                      tuple(args.rows))


if __name__ == "__main__":
    main()
