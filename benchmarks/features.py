"""Feature extraction and caching speed: the users' PNG loop vs sonolab's cache, and a training epoch
over the cache vs over features computed on the fly. All timings come from one run on one machine.

For each set (the FSDD recordings and a generated ESC-50-sized set of 5 s clips at 44.1 kHz):
  (a0) a plain per-file librosa loop in memory: librosa.load (resampled to the feature rate),
      melspectrogram, power_to_db; nothing written. This is the baseline cold extraction must beat;
  (a) the users' naive loop: librosa.load per file (resampled to the feature rate), melspectrogram,
      power_to_db(ref=np.max), a 224x224 PNG written with matplotlib (librosa.display.specshow);
  (b) sonolab's cold extraction: `build_feature_cache` into an empty folder (decode + resample in
      worker processes, batched torch log-mel, memory-mapped cache), in a fresh child process whose
      peak memory (and its workers') is measured;
  (c) one training epoch's data loading for the default CNN: the trainer's own loader (`make_loader`
      with the recipe defaults: batch 32, `num_workers` default) over `SpectrogramDataset` with the
      recipe's framing (128 frames, random crop), matrices read from the cache vs loaded and turned
      into log-mels per item inside the Dataset. For context, the default CNN's forward+backward rate
      on a few batches is timed too (a full CPU epoch of the model would take many minutes).

The same feature settings are used in (a0), (a), (b) and (c). Files are read once before the timings
so that every path sees a warm OS page cache. (a0) and (b) alternate `--repeats` times in one run
(the machine is shared) and their medians are compared; (a0) runs in this process after a warm-up
call, (b) in a fresh process each time (its imports happen before its clock starts, as for (a0)).

    python benchmarks/features.py                 # full run: 3,000 FSDD + 2,000 ESC-50-sized clips
    python benchmarks/features.py --limit 100     # quick run on the first 100 clips of each set
    python benchmarks/features.py --limit 300 --sets fsdd --no-png --model-batches 0 --no-epochs
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    DEFAULT_FSDD_ROOT,
    Stopwatch,
    generate_esc50_like,
    machine_line,
    peak_rss_mib,
    ratio,
)

from sonolab.audio.features import FeatureSettings  # noqa: E402

SETS: dict[str, dict[str, Any]] = {
    # FSDD at its native 8 kHz with sonolab's default analysis.
    "fsdd": {"dataset": "fsdd", "settings": {"sample_rate_hz": 8000, "n_fft": 1024, "hop_length_samples": 256, "n_mels": 64}},
    # ESC-50-sized: the users' settings (librosa's defaults at 22.05 kHz, 128 mels).
    "esc50": {"dataset": "esc50", "settings": {"sample_rate_hz": 22050, "n_fft": 2048, "hop_length_samples": 512, "n_mels": 128}},
}


# --- (a) the users' loop ---------------------------------------------------------------------------

def naive_png_loop(paths: list[Path], settings: FeatureSettings, out_dir: Path) -> dict[str, float]:
    """librosa per file -> mel -> dB (ref=max) -> 224x224 PNG with matplotlib, as in the users' notebooks."""
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    watch = Stopwatch()
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        with watch("load + resample"):
            y, sr = librosa.load(str(path), sr=settings.sample_rate_hz)
        with watch("mel + dB"):
            mel = librosa.feature.melspectrogram(
                y=y, sr=sr, n_fft=settings.n_fft, hop_length=settings.hop_length_samples, n_mels=settings.n_mels
            )
            mel_db = librosa.power_to_db(mel, ref=np.max)
        with watch("224x224 PNG"):
            figure = plt.figure(figsize=(2.24, 2.24), dpi=100)
            axes = figure.add_axes((0, 0, 1, 1))
            axes.axis("off")
            librosa.display.specshow(mel_db, sr=sr, hop_length=settings.hop_length_samples, ax=axes)
            figure.savefig(out_dir / f"{path.stem}.png", dpi=100)
            plt.close(figure)
    return watch.seconds


# --- (a0) the plain in-memory librosa loop ------------------------------------------------------------

def plain_librosa_loop(paths: list[Path], settings: FeatureSettings) -> float:
    """Seconds for librosa.load + melspectrogram + power_to_db per file, results kept in memory."""
    import librosa

    start = time.perf_counter()
    matrices = []
    for path in paths:
        y, sr = librosa.load(str(path), sr=settings.sample_rate_hz)
        mel = librosa.feature.melspectrogram(
            y=y, sr=sr, n_fft=settings.n_fft, hop_length=settings.hop_length_samples, n_mels=settings.n_mels
        )
        matrices.append(librosa.power_to_db(mel, ref=np.max))
    return time.perf_counter() - start


# --- (b) sonolab's cold extraction, in a child process to measure its peak memory -------------------

def _cold_extraction_child(dataset: str, root: str, limit: int | None, settings_dict: dict, cache_dir: str,
                           workers: int | None, queue: Any) -> None:
    import resource

    from sonolab.data.cache import build_feature_cache
    from sonolab.data.registry import load_dataset

    items = load_dataset(dataset, root).items[:limit]
    settings = FeatureSettings(**settings_dict)
    start = time.perf_counter()
    result = build_feature_cache(items, settings, cache_dir, workers=workers, progress=False)
    elapsed_s = time.perf_counter() - start
    queue.put({
        "seconds": elapsed_s,
        "cached": result.cached_count,
        "failures": len(result.failures),
        "peak_rss_main_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_largest_worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    })


def cold_extraction(dataset: str, root: Path, limit: int | None, settings: FeatureSettings, cache_dir: Path,
                    workers: int | None) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(
        target=_cold_extraction_child,
        args=(dataset, str(root), limit, settings.to_dict(), str(cache_dir), workers, queue),
    )
    child.start()
    outcome = queue.get()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"cold extraction child exited with {child.exitcode}")
    return outcome


# --- (c) one training epoch: cache vs on the fly -----------------------------------------------------

class OnTheFlyMatrices:
    """The matrices a SpectrogramDataset indexes, computed per item on access: load + resample + log-mel."""

    def __init__(self, paths: list[Path], settings: FeatureSettings) -> None:
        self.paths = paths
        self.settings = settings

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        from sonolab.audio.features import log_mel
        from sonolab.audio.io import load_audio

        audio, sample_rate_hz = load_audio(self.paths[index], target_sample_rate_hz=self.settings.sample_rate_hz, mono=True)
        return log_mel(audio[0], sample_rate_hz, self.settings)


def data_loading_epoch(dataset: Any, labels: list[int], seed: int = 0) -> float:
    """Seconds to draw every batch of one epoch from the trainer's own loader (`make_loader`, defaults)."""
    from sonolab.train.config import TRAINING_DEFAULTS
    from sonolab.train.engine import make_loader

    loader = make_loader(dataset, labels, int(TRAINING_DEFAULTS["batch_size"]), seed, True, TRAINING_DEFAULTS)
    start = time.perf_counter()
    for _features, _labels in loader:
        pass
    return time.perf_counter() - start


def model_step_rate(dataset: Any, labels: list[int], num_classes: int, batches: int, seed: int = 0) -> float:
    """Samples/s of the default CNN's forward+backward+AdamW step on the first `batches` cached batches."""
    import torch

    from sonolab.models.registry import build_model
    from sonolab.train.config import RECIPE_DEFAULTS, TRAINING_DEFAULTS
    from sonolab.train.engine import make_loader

    torch.manual_seed(seed)
    model = build_model(dict(RECIPE_DEFAULTS["model"]), num_classes).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=TRAINING_DEFAULTS["lr"], weight_decay=TRAINING_DEFAULTS["weight_decay"])
    loader = make_loader(dataset, labels, int(TRAINING_DEFAULTS["batch_size"]), seed, True, TRAINING_DEFAULTS)
    samples, seconds = 0, 0.0
    for index, (features, batch_labels) in enumerate(loader):
        if index >= batches:
            break
        start = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(features), batch_labels).backward()
        optimiser.step()
        seconds += time.perf_counter() - start
        samples += len(batch_labels)
    return samples / seconds if seconds else float("nan")


def epochs_cache_vs_fly(items: list, classes: list[str], settings: FeatureSettings, cache_dir: Path,
                        model_batches: int) -> dict[str, Any]:
    from sonolab.audio.features import apply_reference_and_floor
    from sonolab.data.cache import FeatureCache
    from sonolab.train.config import RECIPE_DEFAULTS
    from sonolab.train.data import SpectrogramDataset

    framing = RECIPE_DEFAULTS["framing"]
    class_index = {name: index for index, name in enumerate(classes)}
    labels = [class_index[item.label] for item in items]

    def dataset(matrices: Any) -> SpectrogramDataset:
        return SpectrogramDataset(matrices, labels, int(framing["target_frames"]), settings.floor_db, crop=str(framing["crop"]))

    # Cached: opening the memory-mapped cache (checksums verified) and applying the reference and floor
    # are counted in the cached epoch's data time.
    start = time.perf_counter()
    cache = FeatureCache.open(cache_dir, settings)
    cached_dataset = dataset([apply_reference_and_floor(cache.get(item.item_id), settings) for item in items])
    cached_s = time.perf_counter() - start + data_loading_epoch(cached_dataset, labels)

    fly_dataset = dataset([None] * len(items))
    fly_dataset.matrices = OnTheFlyMatrices([item.path for item in items], settings)  # same features() path
    fly_s = data_loading_epoch(fly_dataset, labels)
    step_rate = model_step_rate(cached_dataset, labels, len(classes), model_batches) if model_batches > 0 else float("nan")
    return {"cached_data_s": cached_s, "on_the_fly_data_s": fly_s, "model_samples_per_s": step_rate}


# --- driver ------------------------------------------------------------------------------------------

def warm_page_cache(paths: list[Path]) -> None:
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 22):
                pass


def run_set(name: str, root: Path, limit: int | None, work_dir: Path, workers: int | None,
            model_batches: int, repeats: int = 3, png: bool = True, epochs: bool = True) -> dict[str, Any]:
    from sonolab.data.registry import load_dataset

    spec = SETS[name]
    settings = FeatureSettings(**spec["settings"])
    index = load_dataset(spec["dataset"], root)
    items = index.items[:limit]
    paths = [item.path for item in items]
    count = len(items)
    print(f"\n## {name}: {count} clips from {root}", flush=True)
    print(f"settings: {json.dumps(spec['settings'])}, framing: default recipe, model: default recipe", flush=True)
    warm_page_cache(paths)

    cache_dir = work_dir / f"{name}-cache"
    plain_librosa_loop(paths[:5], settings)  # warm-up: librosa's lazy imports are not timed
    plain_runs: list[float] = []
    cold_runs: list[dict[str, Any]] = []
    for _ in range(max(1, repeats)):
        plain_runs.append(plain_librosa_loop(paths, settings))
        shutil.rmtree(cache_dir, ignore_errors=True)
        cold_runs.append(cold_extraction(spec["dataset"], root, limit, settings, cache_dir, workers))
    plain_s = float(np.median(plain_runs))
    cold_s = float(np.median([run["seconds"] for run in cold_runs]))
    cold = cold_runs[-1]
    cold_list = ", ".join(f"{run['seconds']:.2f}" for run in cold_runs)
    print(
        f"(a0) plain librosa loop in memory:      {plain_s:8.2f} s  {count / plain_s:8.1f} clips/s  "
        f"(median of {len(plain_runs)}: {', '.join(f'{t:.2f}' for t in plain_runs)})",
        flush=True,
    )
    print(
        f"(b) sonolab cold extraction to cache:  {cold_s:8.2f} s  {count / cold_s:8.1f} clips/s  "
        f"{ratio(plain_s, cold_s)} than (a0)  (median of {len(cold_runs)}: "
        f"{cold_list}; {cold['cached']} cached, {cold['failures']} failed)",
        flush=True,
    )
    print(
        f"    peak memory: main process {cold['peak_rss_main_mib']:.0f} MiB, largest decode worker "
        f"{cold['peak_rss_largest_worker_mib']:.0f} MiB",
        flush=True,
    )
    naive_s = float("nan")
    naive_stages: dict[str, float] = {}
    if png:
        naive_stages = naive_png_loop(paths, settings, work_dir / f"{name}-png")
        naive_s = sum(naive_stages.values())
        shutil.rmtree(work_dir / f"{name}-png", ignore_errors=True)
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in naive_stages.items())
        print(f"(a) users' loop (librosa + PNG):       {naive_s:8.1f} s  {count / naive_s:8.1f} clips/s  "
              f"[{stages}]; (b) is {ratio(naive_s, cold_s)}", flush=True)
    if not epochs:
        shutil.rmtree(cache_dir, ignore_errors=True)
        return {"clips": count, "settings": spec["settings"], "plain": plain_runs, "cold": cold_runs,
                "naive": {"seconds": naive_s, "stages": naive_stages}}

    epochs = epochs_cache_vs_fly(items, index.classes, settings, cache_dir, model_batches)
    cached_s, fly_s, rate = epochs["cached_data_s"], epochs["on_the_fly_data_s"], epochs["model_samples_per_s"]
    print(
        f"(c) one epoch of data loading (trainer's loader, default CNN input): cache {cached_s:.2f} s "
        f"({count / cached_s:.0f} clips/s) vs on the fly {fly_s:.2f} s ({count / fly_s:.0f} clips/s): "
        f"cache {ratio(fly_s, cached_s)}",
        flush=True,
    )
    if rate == rate:  # not NaN
        model_s = count / rate
        print(
            f"    default CNN forward+backward on this CPU: {rate:.1f} samples/s ({model_batches} batches), i.e. "
            f"~{model_s:.0f} s of model time per epoch; a whole epoch would be ~{model_s + cached_s:.0f} s cached vs "
            f"~{model_s + fly_s:.0f} s on the fly ({ratio(model_s + fly_s, model_s + cached_s)}; estimate from the rates above)",
            flush=True,
        )
    shutil.rmtree(cache_dir, ignore_errors=True)
    return {"clips": count, "settings": spec["settings"], "plain": plain_runs, "cold": cold_runs,
            "naive": {"seconds": naive_s, "stages": naive_stages}, "epochs": epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fsdd-root", type=Path, default=DEFAULT_FSDD_ROOT, help="FSDD folder (holds recordings/)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N clips of each set")
    parser.add_argument("--sets", default="fsdd,esc50", help="comma-separated: fsdd, esc50")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "sonolab-bench",
                        help="temporary folder for the generated set, PNGs and caches")
    parser.add_argument("--workers", type=int, default=None, help="decode processes for (b) (default: sonolab's)")
    parser.add_argument("--model-batches", type=int, default=3,
                        help="batches of the default CNN's forward+backward to time for context (0: skip)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats of (a0) and (b); medians reported")
    parser.add_argument("--no-png", action="store_true", help="skip (a), the PNG loop")
    parser.add_argument("--no-epochs", action="store_true", help="skip (c), the data-loading epochs")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()

    print("# Feature extraction and caching benchmark", flush=True)
    print(machine_line(), flush=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for name in [part.strip() for part in args.sets.split(",") if part.strip()]:
        if name == "fsdd":
            root = args.fsdd_root
        elif name == "esc50":
            clips = args.limit or 2000
            print(f"\ngenerating an ESC-50-sized set ({clips} clips of 5 s at 44.1 kHz) in {args.work_dir} (not timed)", flush=True)
            root = generate_esc50_like(args.work_dir / f"esc50-like-{clips}", clips)
        else:
            parser.error(f"unknown set {name!r} (use fsdd, esc50)")
        results[name] = run_set(name, root, args.limit, args.work_dir, args.workers, args.model_batches,
                                args.repeats, not args.no_png, not args.no_epochs)
    print(f"\npeak memory of the benchmark process itself: {peak_rss_mib():.0f} MiB; total run {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
