"""Memory-mapped log-mel feature cache keyed by the feature settings.

Layout of a cache folder:
- `features.f32`: every item's `(n_mels, frames)` dB-re-unity matrix, float32, concatenated;
- `index.json`: item ids, offsets (in values) and frame counts;
- `settings.json`: the full `FeatureSettings`;
- `failures.json`: every file that could not be used, with its reason;
- `manifest.json` (written last: the completion marker): settings fingerprint, a digest of the
  requested items (ids, paths, sizes, modification times), sizes and SHA-256 checksums.

A cache with other settings or items, or a missing, truncated or corrupted file, is never reused: it
is rebuilt. A build writes into a temporary folder that is renamed into place only when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonolab.audio.features import FeatureSettings, compute_dataset_max_reference, log_mel_re_unity_batch
from sonolab.audio.io import load_audio
from sonolab.atomic import write_json_atomic
from sonolab.data.items import Item, Problem
from sonolab.data.parallel import map_in_workers
from sonolab.errors import AudioLoadError, ConfigError, DatasetError

FORMAT_VERSION = 1
FEATURES_FILE = "features.f32"
INDEX_FILE = "index.json"
SETTINGS_FILE = "settings.json"
FAILURES_FILE = "failures.json"
MANIFEST_FILE = "manifest.json"
CACHE_FILES = (FEATURES_FILE, INDEX_FILE, SETTINGS_FILE, FAILURES_FILE, MANIFEST_FILE)
BATCH_SIZE = 32


@dataclass
class CacheBuildResult:
    cache_dir: Path
    cached_count: int
    failures: list[Problem] = field(default_factory=list)
    rebuilt: bool = True
    reason: str = ""  # why it was (re)built, or "valid cache reused"


def _sha256_file(path: Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def items_digest(items: Sequence[Item]) -> str:
    """Identity of the requested items: ids, resolved paths, file sizes and modification times."""
    digest = hashlib.sha256()
    for item in sorted(items, key=lambda i: i.item_id):
        try:
            stat = item.path.stat()
            signature = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            signature = "missing"
        digest.update(f"{item.item_id}\0{Path(item.path).resolve()}\0{signature}\n".encode())
    return digest.hexdigest()


def cache_problem(cache_dir: Path, settings: FeatureSettings, expected_items_digest: str | None = None) -> str | None:
    """Why the cache at `cache_dir` cannot be used with `settings` (None if it is valid)."""
    manifest_path = cache_dir / MANIFEST_FILE
    if not cache_dir.is_dir():
        return "no cache yet"
    if not manifest_path.is_file():
        return "incomplete cache (no manifest: the build did not finish)"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return f"unreadable manifest ({error})"
    if not manifest.get("complete") or manifest.get("format") != FORMAT_VERSION:
        return "incomplete cache or other format version"
    if manifest.get("fingerprint") != settings.cache_fingerprint():
        return f"feature settings changed (cache {manifest.get('fingerprint')}, requested {settings.cache_fingerprint()})"
    if expected_items_digest is not None and manifest.get("items_digest") != expected_items_digest:
        return "the items (ids, paths or file contents) changed"
    for name in (INDEX_FILE, SETTINGS_FILE, FAILURES_FILE, FEATURES_FILE):
        if not (cache_dir / name).is_file():
            return f"missing {name}"
    try:
        stored = FeatureSettings.load(cache_dir / SETTINGS_FILE)
    except Exception as error:  # any parse problem means the cache is unusable
        return f"unreadable {SETTINGS_FILE} ({error})"
    if stored.cache_fingerprint() != settings.cache_fingerprint():
        return f"{SETTINGS_FILE} does not match the manifest"
    features = cache_dir / FEATURES_FILE
    if features.stat().st_size != manifest.get("features_bytes"):
        return f"{FEATURES_FILE} has {features.stat().st_size} bytes, manifest says {manifest.get('features_bytes')}"
    if _sha256_file(cache_dir / INDEX_FILE) != manifest.get("index_sha256"):
        return f"{INDEX_FILE} checksum mismatch"
    if _sha256_file(features) != manifest.get("features_sha256"):
        return f"{FEATURES_FILE} checksum mismatch (corrupted)"
    return None


class FeatureCache:
    """Read access to a valid cache: `get(item_id)` returns `(n_mels, frames)` float32 dB re unity."""

    def __init__(self, cache_dir: Path, settings: FeatureSettings, index: dict, failures: list[Problem]) -> None:
        self.cache_dir = cache_dir
        self.settings = settings
        self.item_ids: list[str] = list(index["item_ids"])
        self.n_mels = int(index["n_mels"])
        self._offsets = {i: int(o) for i, o in zip(self.item_ids, index["offsets"])}
        self._frames = {i: int(f) for i, f in zip(self.item_ids, index["frames"])}
        total = sum(self._frames.values()) * self.n_mels
        self._values = np.memmap(cache_dir / FEATURES_FILE, dtype=np.float32, mode="r", shape=(total,)) if total else np.zeros(0, np.float32)
        self.failures = failures

    @classmethod
    def open(cls, cache_dir: Path | str, settings: FeatureSettings, verify: bool = True) -> "FeatureCache":
        """Open the cache at `cache_dir` built with `settings` (checked: fingerprint, sizes, checksums)."""
        cache_dir = Path(cache_dir)
        if verify:
            problem = cache_problem(cache_dir, settings)
            if problem is not None:
                raise DatasetError(f"{cache_dir}: feature cache unusable: {problem} (fix: rebuild it with `sonolab features`)")
        index = json.loads((cache_dir / INDEX_FILE).read_text(encoding="utf-8"))
        failures = [Problem(**entry) for entry in json.loads((cache_dir / FAILURES_FILE).read_text(encoding="utf-8"))]
        stored = FeatureSettings.load(cache_dir / SETTINGS_FILE)
        return cls(cache_dir, settings if settings.cache_fingerprint() == stored.cache_fingerprint() else stored, index, failures)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._offsets

    def __len__(self) -> int:
        return len(self.item_ids)

    def frames(self, item_id: str) -> int:
        return self._frames[item_id]

    def get(self, item_id: str) -> np.ndarray:
        """A copy of the item's `(n_mels, frames)` matrix in dB re unity (apply the reference on read)."""
        if item_id not in self._offsets:
            raise KeyError(f"{item_id!r} is not in the feature cache at {self.cache_dir} (it may be listed in {FAILURES_FILE})")
        start = self._offsets[item_id]
        frames = self._frames[item_id]
        return np.array(self._values[start:start + self.n_mels * frames]).reshape(self.n_mels, frames)


def dataset_max_reference(cache: FeatureCache, train_ids: Sequence[str], settings: FeatureSettings) -> float:
    """The `dataset_max` reference over the training partition only (ids missing from the cache are skipped)."""
    present = [item_id for item_id in train_ids if item_id in cache]
    if not present:
        raise ConfigError("dataset_max needs at least one cached training item")
    return compute_dataset_max_reference((cache.get(item_id) for item_id in present), settings)


def _decode(job: tuple[str, str, int]) -> tuple[str, np.ndarray | None, str | None]:
    """Decode, down-mix and resample one file in a worker; a bad file returns its reason."""
    item_id, path, sample_rate_hz = job
    try:
        audio, _ = load_audio(Path(path), target_sample_rate_hz=sample_rate_hz, mono=True)
    except AudioLoadError as error:
        return item_id, None, str(error)
    return item_id, audio[0], None


def _is_replaceable(cache_dir: Path) -> bool:
    """Only an empty folder or a sonolab cache may be replaced (never a user's other files)."""
    if not cache_dir.exists():
        return True
    if not cache_dir.is_dir():
        return False
    names = {path.name for path in cache_dir.iterdir()}
    return not names or (names <= set(CACHE_FILES))


def build_feature_cache(
    items: Sequence[Item],
    settings: FeatureSettings,
    cache_dir: Path | str,
    workers: int | None = None,
    progress: bool = True,
    known_failures: Sequence[Problem] = (),
) -> CacheBuildResult:
    """Compute and cache the log-mels of `items` unless a valid cache for them and `settings` exists.

    Decoding and resampling run in worker processes; failed files are skipped, listed in
    `failures.json` with their reasons (with `known_failures`, e.g. missing files found while
    indexing) and counted.
    """
    cache_dir = Path(cache_dir)
    if not settings.mono:
        raise ConfigError("the feature cache stores mono log-mels: set mono=true in the feature settings")
    duplicate_ids = [i for i, n in _count_ids(items).items() if n > 1]
    if duplicate_ids:
        raise DatasetError(f"duplicate item ids cannot be cached: {duplicate_ids[:5]} (fix: make ids unique)")
    digest = items_digest(items)
    problem = cache_problem(cache_dir, settings, digest)
    if problem is None:
        cache = FeatureCache.open(cache_dir, settings, verify=False)
        return CacheBuildResult(cache_dir, len(cache), cache.failures, rebuilt=False, reason="valid cache reused")
    if not _is_replaceable(cache_dir):
        raise DatasetError(f"{cache_dir}: exists and is not a sonolab feature cache (fix: choose an empty or new --out folder)")
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.building-", dir=cache_dir.parent))
    try:
        cached, failures = _write_cache(items, settings, temporary, workers, progress, list(known_failures), digest)
        _swap_into_place(temporary, cache_dir)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return CacheBuildResult(cache_dir, cached, failures, rebuilt=True, reason=problem)


def _count_ids(items: Sequence[Item]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.item_id] = counts.get(item.item_id, 0) + 1
    return counts


def _write_cache(
    items: Sequence[Item], settings: FeatureSettings, folder: Path, workers: int | None, progress: bool,
    failures: list[Problem], digest: str,
) -> tuple[int, list[Problem]]:
    paths = {item.item_id: str(item.path) for item in items}
    ids: list[str] = []
    offsets: list[int] = []
    frame_counts: list[int] = []
    checksum = hashlib.sha256()
    offset = 0
    pending: list[tuple[str, np.ndarray]] = []

    def flush(handle) -> None:
        nonlocal offset
        if not pending:
            return
        try:
            matrices = log_mel_re_unity_batch([waveform for _, waveform in pending], settings)
        except Exception:  # one bad waveform must not lose the batch: retry one by one
            matrices = []
            for item_id, waveform in pending:
                try:
                    matrices.append(log_mel_re_unity_batch([waveform], settings)[0])
                except Exception as error:
                    matrices.append(error)
        for (item_id, _), matrix in zip(pending, matrices):
            if isinstance(matrix, Exception):
                failures.append(Problem(paths[item_id], f"feature computation failed ({matrix})", item_id))
                continue
            matrix = np.ascontiguousarray(matrix, dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape[0] != settings.n_mels or not np.all(np.isfinite(matrix)):
                failures.append(Problem(paths[item_id], f"feature matrix of shape {matrix.shape} is not finite (n_mels, frames)", item_id))
                continue
            data = matrix.tobytes()
            handle.write(data)
            checksum.update(data)
            ids.append(item_id)
            offsets.append(offset)
            frame_counts.append(int(matrix.shape[1]))
            offset += matrix.size
        pending.clear()

    jobs = [(item.item_id, str(item.path), settings.sample_rate_hz) for item in items]
    with (folder / FEATURES_FILE).open("wb") as handle:
        for item_id, waveform, reason in map_in_workers(_decode, jobs, workers, progress, "computing log-mels"):
            if waveform is None:
                failures.append(Problem(paths[item_id], reason or "could not decode", item_id))
                continue
            pending.append((item_id, waveform))
            if len(pending) >= BATCH_SIZE:
                flush(handle)
        flush(handle)
        handle.flush()
        os.fsync(handle.fileno())
    write_json_atomic(folder / INDEX_FILE, {"item_ids": ids, "offsets": offsets, "frames": frame_counts, "n_mels": settings.n_mels})
    settings.save(folder / SETTINGS_FILE)
    write_json_atomic(folder / FAILURES_FILE, [problem.to_dict() for problem in failures])
    manifest = {
        "format": FORMAT_VERSION, "complete": True, "fingerprint": settings.cache_fingerprint(),
        "items_digest": digest, "item_count": len(ids), "failure_count": len(failures),
        "features_bytes": offset * 4, "features_sha256": checksum.hexdigest(),
        "index_sha256": _sha256_file(folder / INDEX_FILE),
    }
    write_json_atomic(folder / MANIFEST_FILE, manifest)  # last: the completion marker
    return len(ids), failures


def _swap_into_place(built: Path, cache_dir: Path) -> None:
    """Replace `cache_dir` by the finished build with renames (the old cache is removed afterwards)."""
    old = None
    if cache_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.old-", dir=cache_dir.parent))
        os.rmdir(old)
        os.replace(cache_dir, old)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(built, 0o777 & ~mask)  # mkdtemp makes 0700; the cache gets the usual umask-based folder mode
    os.replace(built, cache_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
