"""FSDD leave-one-speaker-out: recipes/fsdd_cnn.yaml beside the classic baseline, in one run.

Baseline: mean and std of 20 MFCCs per clip + an RBF SVM (scikit-learn), leave-one-speaker-out over
the same 6 speakers (users report 65.4% accuracy). Reads ../shared/data/fsdd (or --root).

    python benchmarks/fsdd_loso.py [--root DIR] [--out RUN_DIR] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def mfcc_svm_baseline(root: Path) -> dict:
    """Leave-one-speaker-out accuracy and balanced accuracy of MFCC statistics + RBF SVM."""
    import librosa
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import LeaveOneGroupOut
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from sonolab.audio.io import load_audio
    from sonolab.data.registry import load_dataset

    index = load_dataset("fsdd", root)
    features, labels, groups = [], [], []
    for item in index.items:
        audio, sample_rate_hz = load_audio(item.path, target_sample_rate_hz=8000, mono=True)
        mfcc = librosa.feature.mfcc(y=audio[0], sr=sample_rate_hz, n_mfcc=20, n_fft=256, hop_length=80, n_mels=40)
        features.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
        labels.append(item.label)
        groups.append(item.group)
    x, y, g = np.asarray(features), np.asarray(labels), np.asarray(groups)
    accuracies, balanced = [], []
    for train, test in LeaveOneGroupOut().split(x, y, g):
        model = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=10.0, gamma="scale")).fit(x[train], y[train])
        predicted = model.predict(x[test])
        accuracies.append(accuracy_score(y[test], predicted))
        balanced.append(balanced_accuracy_score(y[test], predicted))
    return {"accuracy": accuracies, "balanced_accuracy": balanced, "folds": len(accuracies), "items": len(y)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "fsdd", help="FSDD folder (holds recordings/)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary folder)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override key.sub=value")
    arguments = parser.parse_args()

    import torch

    from sonolab.train.config import load_recipe
    from sonolab.train.runner import run_recipe

    print(f"FSDD leave-one-speaker-out at {arguments.root}; torch threads: {torch.get_num_threads()}")
    start = time.perf_counter()
    baseline = mfcc_svm_baseline(arguments.root)
    baseline_s = time.perf_counter() - start

    recipe = load_recipe(REPO / "recipes" / "fsdd_cnn.yaml", arguments.overrides)
    out = arguments.out or Path(tempfile.mkdtemp(prefix="fsdd_loso_")) / "run"
    start = time.perf_counter()
    run_dir = run_recipe(recipe, root=arguments.root, out_dir=out, progress=False)
    cnn_s = time.perf_counter() - start
    summary = json.loads((run_dir / "summary.json").read_text())

    def line(name: str, values: list[float]) -> str:
        return f"{100 * np.mean(values):.1f}% ± {100 * np.std(values, ddof=1):.1f}%"

    cnn_accuracy = [row["accuracy"] for row in summary["runs"]]
    cnn_balanced = [row["balanced_accuracy"] for row in summary["runs"]]
    print()
    splits = json.loads((run_dir / "splits.json").read_text())
    speaker = {fold["name"]: ", ".join(sorted({splits["groups"][i] for i in fold["partitions"]["test"]})) for fold in splits["folds"]}
    print(f"{'fold':<8}{'test speaker':>14}{'items':>7}{'CNN accuracy':>15}{'MFCC+SVM accuracy':>20}{'CNN val accuracy':>19}")
    for row, svm in zip(summary["runs"], baseline["accuracy"]):
        print(f"{row['fold']:<8}{speaker[row['fold']]:>14}{row['test_count']:>7}{100 * row['accuracy']:>14.1f}%{100 * svm:>19.1f}%"
              f"{100 * row['val_accuracy']:>18.1f}%   (best epoch {row['best_epoch']} of {row['epochs_run']})")
    print()
    # Validation (another speaker, carved from each fold's training speakers) is what recipe changes are chosen by.
    print(f"CNN validation accuracy (a training-side speaker, never the test speaker): {line('', [row['val_accuracy'] for row in summary['runs']])}")
    print(f"CNN (recipes/fsdd_cnn.yaml), {len(cnn_accuracy)} folds: accuracy {line('', cnn_accuracy)}, "
          f"balanced accuracy {line('', cnn_balanced)}, wall time {cnn_s / 60:.1f} min (features + training + testing)")
    print(f"MFCC stats + RBF SVM, {baseline['folds']} folds: accuracy {line('', baseline['accuracy'])}, "
          f"balanced accuracy {line('', baseline['balanced_accuracy'])}, wall time {baseline_s:.1f} s (users reported 65.4%)")
    print(f"CNN accuracy / baseline accuracy: {np.mean(cnn_accuracy) / np.mean(baseline['accuracy']):.2f}x; "
          f"error rate {100 * (1 - np.mean(cnn_accuracy)):.1f}% vs {100 * (1 - np.mean(baseline['accuracy'])):.1f}% "
          f"({(1 - np.mean(baseline['accuracy'])) / max(1e-9, 1 - np.mean(cnn_accuracy)):.1f}x fewer errors)")
    print(f"target: >= 90% mean accuracy in <= 20 min: {'met' if np.mean(cnn_accuracy) >= 0.9 and cnn_s <= 1200 else 'NOT met'}")
    print(f"run folder: {run_dir}")


if __name__ == "__main__":
    main()
