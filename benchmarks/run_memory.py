"""Peak memory of a 5-fold training run over a generated 20,000-clip folder dataset.

The run's feature cache is memory-mapped; a fold must read items from it on access instead of copying the whole
cache into RAM (as sonolab did before the one-runner change: every matrix was read into a dict, then referenced
into a second list per fold). The script runs `sonolab train` in a subprocess and reports that process tree's
peak resident memory (the largest process, from getrusage), beside the size of the feature cache.

    python benchmarks/run_memory.py                       # this checkout
    python benchmarks/run_memory.py --src OLD_CHECKOUT/src  # the same run with another sonolab (e.g. before)
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
import soundfile as sf
import yaml

RECIPE = {
    "task": "classification", "dataset": "folder",
    "features": {"sample_rate_hz": 16000, "n_fft": 400, "hop_length_samples": 160, "n_mels": 64},
    "framing": {"target_frames": 96, "crop": "random", "eval_crop": "middle"},
    "split": {"strategy": "group-kfold", "folds": 5, "seed": 0},
    "model": {"name": "baseline_cnn", "channels": [4, 8], "dropout": 0.0},
    "training": {"epochs": 1, "batch_size": 256, "lr": 0.003, "patience": 0},
    "seeds": [0],
}


def make_clips(root: Path, count: int, classes: int = 10, sample_rate_hz: int = 16000, duration_s: float = 1.0) -> Path:
    """`class_k/clip_n.wav`: class k is a tone at 200 * (k + 1) Hz in noise (one group per file)."""
    rng = np.random.default_rng(0)
    time_s = np.arange(int(sample_rate_hz * duration_s)) / sample_rate_hz
    for index in range(count):
        label = index % classes
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        signal = 0.3 * np.sin(2 * np.pi * 200 * (label + 1) * time_s) + 0.05 * rng.standard_normal(time_s.size)
        sf.write(folder / f"clip_{index:05d}.wav", signal.astype(np.float32), sample_rate_hz, subtype="PCM_16")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src", help="the sonolab source folder to run")
    parser.add_argument("--work", type=Path, default=None, help="a folder for the generated data (kept; reused when it exists)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="sonolab-memory-"))
    data = work / f"clips_{args.clips}"
    if not data.is_dir():
        started = time.perf_counter()
        make_clips(data, args.clips)
        print(f"generated {args.clips} clips in {time.perf_counter() - started:.0f} s")
    recipe_path = work / "recipe.yaml"
    recipe = dict(RECIPE)
    if '"baseline"' in (args.src / "sonolab" / "train" / "config.py").read_text():
        recipe["baseline"] = {"enabled": False}  # the same work as before the baseline existed: the CNN's folds only
    recipe_path.write_text(yaml.safe_dump(recipe))
    out = work / f"run-{time.strftime('%H%M%S')}"
    command = [sys.executable, "-c", "import sys; from sonolab.cli import main; sys.argv[0] = 'sonolab'; main()",
               "train", str(recipe_path), "--root", str(data), "--out", str(out), "--no-progress"]
    environment = {**os.environ, "PYTHONPATH": str(args.src.resolve())}
    started = time.perf_counter()
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stderr[-3000:])
        raise SystemExit(result.returncode)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    cache_mib = sum(path.stat().st_size for path in (out / "cache").rglob("*.f32")) / 2**20
    print(f"sonolab from {args.src}: 5-fold run over {args.clips} clips: peak RSS {peak_mib:.0f} MiB, "
          f"feature cache {cache_mib:.0f} MiB on disk, {seconds:.0f} s")


if __name__ == "__main__":
    main()
