"""Shared helpers for the speed benchmarks: timing, peak memory, ratios, a generated ESC-50-sized set."""

from __future__ import annotations

import csv
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FSDD_ROOT = REPO_ROOT.parent / "shared" / "data" / "fsdd"


class Stopwatch:
    """Accumulates wall time per named stage (`with watch("load"): ...`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def convention_line(label: str, rows: list[tuple[str, int, float]]) -> str:
    """`label: mean % (std across folds, std across seeds; n folds x n seeds)` of (fold, seed, score) rows under the
    summary convention (the mean over folds of each fold's seed-averaged score)."""
    from sonolab.train.summary import fold_seed_stats

    stats = fold_seed_stats(rows)
    return (f"{label}: {100 * stats['mean']:.1f} % (std across folds {100 * stats['std']:.1f}, std across seeds "
            f"{100 * (stats.get('std_seeds') or 0):.1f}; {stats['n_folds']} folds x {stats['n_seeds']} seeds)")


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    """(result, wall seconds) of one call."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def ratio(baseline_s: float, candidate_s: float) -> str:
    """'5.3x faster' (or 'x slower') for a candidate against a baseline timed in the same run."""
    if candidate_s <= 0 or baseline_s <= 0:
        return "n/a"
    value = baseline_s / candidate_s
    return f"{value:.1f}x faster" if value >= 1 else f"{1 / value:.1f}x slower"


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MiB of this process (RUSAGE_SELF) or of its largest finished child."""
    kib = resource.getrusage(who).ru_maxrss  # KiB on Linux
    return kib / 1024.0


def machine_line() -> str:
    import torch

    return (
        f"machine: {platform.machine()} {os.cpu_count()} CPU cores visible, python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )


# --- a generated set with ESC-50's shape: 2,000 clips of 5 s at 44.1 kHz, 50 classes, 5 folds ---------

ESC50_CLIPS = 2000
ESC50_CLASSES = 50
ESC50_RATE_HZ = 44100
ESC50_DURATION_S = 5.0


def _clip(class_index: int, take: int, rng: np.random.Generator) -> np.ndarray:
    """A 5 s clip whose class is audible: a class-specific harmonic tone in bursts over coloured noise."""
    samples = int(ESC50_DURATION_S * ESC50_RATE_HZ)
    t = np.arange(samples) / ESC50_RATE_HZ
    f0_hz = 80.0 * 2 ** (class_index / 8)  # 80 Hz .. ~5 kHz over the 50 classes
    tone = sum(np.sin(2 * np.pi * f0_hz * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
    burst_rate_hz = 0.5 + (class_index % 7)
    envelope = 0.5 * (1 + np.sign(np.sin(2 * np.pi * burst_rate_hz * t + take)))
    noise = np.cumsum(rng.standard_normal(samples)) * 1e-3  # brown-ish noise
    noise -= np.linspace(noise[0], noise[-1], samples)
    clip = 0.3 * tone * envelope + 0.05 * noise
    return (0.8 * clip / np.max(np.abs(clip))).astype(np.float32)


def generate_esc50_like(root: Path, clips: int = ESC50_CLIPS) -> Path:
    """Write `clips` WAVs (16-bit, 44.1 kHz, 5 s) and meta/esc50.csv under `root`; reused if complete."""
    import soundfile as sf

    marker = root / "generated.json"
    spec = {"clips": clips, "classes": ESC50_CLASSES, "rate_hz": ESC50_RATE_HZ, "duration_s": ESC50_DURATION_S}
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return root
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2000)
    rows = []
    for index in range(clips):
        class_index = index % ESC50_CLASSES
        source = index // ESC50_CLASSES  # one source recording per class per 50 clips
        fold = 1 + source % 5
        take = "A"
        name = f"{fold}-{100000 + source}-{take}-{class_index}.wav"
        sf.write(str(root / "audio" / name), _clip(class_index, source, rng), ESC50_RATE_HZ, subtype="PCM_16")
        rows.append([name, fold, class_index, f"class_{class_index:02d}", "False", str(100000 + source), take])
        if (index + 1) % 250 == 0:
            print(f"  generated {index + 1}/{clips} clips", file=sys.stderr, flush=True)
    with (root / "meta" / "esc50.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        writer.writerows(rows)
    marker.write_text(json.dumps(spec))
    return root
