"""Fingerprints cached on disk beside the feature cache: one `.npz` per fingerprint settings.

`CACHE_DIR/content_fingerprints/<settings key>.npz` holds every item's fingerprint with the path, size
and modification time it was computed from; an entry is reused only when all three still match (and
the settings key names the file, so other settings never reuse it). The file is rewritten atomically
when anything was added or changed. Loaded with `allow_pickle=False`: a cache file cannot run code.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from sonolab.atomic import atomic_path
from sonolab.data.fingerprint import Fingerprint, FingerprintSettings, fingerprint_file
from sonolab.data.items import Problem
from sonolab.data.parallel import map_in_workers

STORE_FOLDER = "content_fingerprints"


def _stamp(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path.resolve()), int(stat.st_size), int(stat.st_mtime_ns)


def store_path(cache_dir: Path, settings: FingerprintSettings) -> Path:
    return Path(cache_dir) / STORE_FOLDER / f"{settings.key()}.npz"


def _load(path: Path, settings: FingerprintSettings) -> dict[tuple[str, int, int], Fingerprint]:
    """Stamp -> fingerprint of a store file (empty when missing, unreadable or of other settings)."""
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            manifest = json.loads(str(data["manifest"]))
            if manifest.get("settings") != asdict(settings):
                return {}
            spectra, peaks, waves = data["spectra"], data["peaks"], data["waveforms"]
            out = {}
            for entry in manifest["entries"]:
                f0, f1, p0, p1 = entry["frames"][0], entry["frames"][1], entry["peaks"][0], entry["peaks"][1]
                w = entry["waveform"]
                out[(entry["path"], entry["size"], entry["mtime_ns"])] = Fingerprint(
                    entry["item_id"], np.array(spectra[f0:f1]), peaks[p0:p1, 0].copy(), peaks[p0:p1, 1].copy(),
                    float(entry["duration_s"]), entry.get("samples_hash", ""), None if w is None else np.array(waves[w[0]:w[1]]),
                    float(entry.get("start_s", 0.0)))
            return out
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return {}  # a damaged cache is recomputed, never trusted


def _save(path: Path, settings: FingerprintSettings, stamped: list[tuple[tuple[str, int, int], Fingerprint]]) -> None:
    entries, spectra, peaks, waves = [], [], [], []
    frame, peak, sample = 0, 0, 0
    for (resolved, size, mtime_ns), fp in stamped:
        span = None if fp.waveform is None else [sample, sample + fp.waveform.size]
        entries.append({"item_id": fp.item_id, "path": resolved, "size": size, "mtime_ns": mtime_ns,
                        "frames": [frame, frame + fp.frames], "peaks": [peak, peak + fp.peak_frames.size],
                        "duration_s": fp.duration_s, "samples_hash": fp.samples_hash, "waveform": span,
                        "start_s": fp.start_s})
        spectra.append(fp.spectrogram)
        peaks.append(np.stack([fp.peak_frames, fp.peak_bins], axis=1))
        if fp.waveform is not None:
            waves.append(fp.waveform.astype(np.float16))
            sample += fp.waveform.size
        frame += fp.frames
        peak += fp.peak_frames.size
    manifest = json.dumps({"settings": asdict(settings), "entries": entries})
    with atomic_path(path) as temporary:
        with temporary.open("wb") as handle:
            np.savez(handle, manifest=np.array(manifest),
                     spectra=np.concatenate(spectra) if spectra else np.zeros((0, settings.n_bins), np.uint8),
                     peaks=np.concatenate(peaks).astype(np.int32) if peaks else np.zeros((0, 2), np.int32),
                     waveforms=np.concatenate(waves) if waves else np.zeros(0, np.float16))


def load_fingerprints(
    paths: dict[str, Path],
    settings: FingerprintSettings,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> tuple[dict[str, Fingerprint], list[Problem], dict[str, int]]:
    """Fingerprint every `item id -> path`, reusing valid cached entries when `cache_dir` is given.

    Returns (fingerprints by id, files that could not be decoded, counts {"reused", "computed"}).
    """
    store = store_path(cache_dir, settings) if cache_dir is not None else None
    cached = _load(store, settings) if store is not None else {}
    prints: dict[str, Fingerprint] = {}
    stamps: dict[str, tuple[str, int, int]] = {}
    jobs = []
    for item_id, path in sorted(paths.items()):
        stamp = _stamp(Path(path))
        if stamp is not None:
            stamps[item_id] = stamp
            if stamp in cached:
                hit = cached[stamp]
                prints[item_id] = replace(hit, item_id=item_id)
                continue
        jobs.append((item_id, str(path), settings))
    problems: list[Problem] = []
    for result in map_in_workers(fingerprint_file, jobs, workers, progress, "fingerprinting audio"):
        if isinstance(result, Fingerprint):
            prints[result.item_id] = result
        else:
            problems.append(Problem(str(paths[result[0]]), result[1], result[0]))
    computed = len(jobs) - len(problems)
    if store is not None and computed > 0:
        keep = {stamps[i]: fp for i, fp in prints.items() if i in stamps}
        for stamp, fp in cached.items():  # keep other items' entries (e.g. another subset of the dataset)
            if stamp not in keep and os.path.exists(stamp[0]):
                keep[stamp] = fp
        try:
            _save(store, settings, list(keep.items()))
        except OSError:
            pass  # a read-only cache folder costs time next run, never correctness
    return prints, problems, {"reused": len(prints) - computed, "computed": computed}
