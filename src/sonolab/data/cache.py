"""Memory-mapped feature cache for every feature kind, keyed by kind, settings and items.

Layout of a cache folder:
- `features.f32`: every item's float32 array, concatenated: a `(n_mels, frames)` dB-re-unity matrix
  for the `logmel` kind, a `(n_vectors, dim)` array for the other kinds (`sonolab.features`);
- `index.json`: item ids, offsets (in values) and frame / vector counts (and the kind, except logmel);
- `settings.json`: the kind's full settings (`FeatureSettings` for logmel);
- `failures.json`: every file that could not be used, with its reason;
- `manifest.json` (written last: the completion marker): kind (absent for logmel, whose format is
  unchanged), settings fingerprint, a digest of the requested items (ids, paths, sizes, modification
  times), sizes and SHA-256 checksums.

Items are read by id as read-only memory-mapped views (`view`), never copied as a whole.
Extraction: files are cut into chunks; worker processes decode, resample and extract a chunk at a
time (log-mels batched per chunk, without torch), the main process only writes. Small sets stay in
this process, where no worker start-up is paid (`MIN_FILES_PER_WORKER`).

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

from typing import Any

from sonolab.audio.features import FeatureSettings, compute_dataset_max_reference
from sonolab.audio.io import load_audio
from sonolab.atomic import write_json_atomic
from sonolab.data.items import Item, Problem
from sonolab.data.parallel import map_in_workers, workers_for
from sonolab.errors import AudioLoadError, ConfigError, DatasetError
from sonolab.features.kinds import kind_module, kind_of, settings_class
from sonolab.features.pooling import clip_vector

FORMAT_VERSION = 1
FEATURES_FILE = "features.f32"
INDEX_FILE = "index.json"
SETTINGS_FILE = "settings.json"
FAILURES_FILE = "failures.json"
MANIFEST_FILE = "manifest.json"
CACHE_FILES = (FEATURES_FILE, INDEX_FILE, SETTINGS_FILE, FAILURES_FILE, MANIFEST_FILE)
BATCH_SIZE = 32
CHUNK_FILES = 32  # files per worker task (a log-mel batch); at most this many waveforms in flight per worker
MIN_FILES_PER_WORKER = 400  # below this many (short) files per worker, start-up and transfers cost more than they save
MIN_BYTES_PER_WORKER = 16 << 20  # ... or this much audio per worker (~3 min of 44.1 kHz 16-bit mono)


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


def cache_problem(cache_dir: Path, settings: Any, expected_items_digest: str | None = None) -> str | None:
    """Why the cache at `cache_dir` cannot be used with `settings` (None if it is valid).

    `settings` is any feature kind's settings (`FeatureSettings` for logmel)."""
    kind = kind_of(settings)
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
    if manifest.get("kind", "logmel") != kind:
        return f"feature kind changed (cache {manifest.get('kind', 'logmel')}, requested {kind})"
    if manifest.get("fingerprint") != settings.cache_fingerprint():
        return f"feature settings changed (cache {manifest.get('fingerprint')}, requested {settings.cache_fingerprint()})"
    if expected_items_digest is not None and manifest.get("items_digest") != expected_items_digest:
        return "the items (ids, paths or file contents) changed"
    for name in (INDEX_FILE, SETTINGS_FILE, FAILURES_FILE, FEATURES_FILE):
        if not (cache_dir / name).is_file():
            return f"missing {name}"
    try:
        stored = settings_class(kind).load(cache_dir / SETTINGS_FILE)
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


def _checked_open(cache_dir: Path, settings: Any, verify: bool) -> tuple[dict, list[Problem], Any]:
    if verify:
        problem = cache_problem(cache_dir, settings)
        if problem is not None:
            raise DatasetError(f"{cache_dir}: feature cache unusable: {problem} (fix: rebuild it with `sonolab features`)")
    index = json.loads((cache_dir / INDEX_FILE).read_text(encoding="utf-8"))
    failures = [Problem(**entry) for entry in json.loads((cache_dir / FAILURES_FILE).read_text(encoding="utf-8"))]
    stored = settings_class(kind_of(settings)).load(cache_dir / SETTINGS_FILE)
    return index, failures, settings if settings.cache_fingerprint() == stored.cache_fingerprint() else stored


class _MemmapCache:
    """Items concatenated in one float32 memory map; each item is `counts[i]` rows of `width` values."""

    def __init__(self, cache_dir: Path, settings: Any, item_ids: list[str], offsets: list[int], counts: list[int],
                 width: int, failures: list[Problem], counts_first: bool) -> None:
        self.cache_dir = cache_dir
        self.settings = settings
        self.item_ids: list[str] = list(item_ids)
        self.failures = failures
        self._width = int(width)
        self._counts_first = counts_first
        self._offsets = {i: int(o) for i, o in zip(self.item_ids, offsets)}
        self._counts = {i: int(c) for i, c in zip(self.item_ids, counts)}
        total = sum(self._counts.values()) * self._width
        self._values = np.memmap(cache_dir / FEATURES_FILE, dtype=np.float32, mode="r", shape=(total,)) if total else np.zeros(0, np.float32)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._offsets

    def __len__(self) -> int:
        return len(self.item_ids)

    def view(self, item_id: str) -> np.ndarray:
        """The item's array as a read-only view into the memory map (nothing is copied)."""
        if item_id not in self._offsets:
            raise KeyError(f"{item_id!r} is not in the feature cache at {self.cache_dir} (it may be listed in {FAILURES_FILE})")
        start, count = self._offsets[item_id], self._counts[item_id]
        flat = self._values[start:start + count * self._width]
        return flat.reshape((count, self._width) if self._counts_first else (self._width, count))

    def get(self, item_id: str) -> np.ndarray:
        """A copy of the item's array (use `view` to read without copying)."""
        return np.array(self.view(item_id))


class FeatureCache(_MemmapCache):
    """The `logmel` kind: `get(item_id)` / `view(item_id)` give `(n_mels, frames)` float32 dB re unity."""

    def __init__(self, cache_dir: Path, settings: FeatureSettings, index: dict, failures: list[Problem]) -> None:
        self.n_mels = int(index["n_mels"])
        super().__init__(cache_dir, settings, index["item_ids"], index["offsets"], index["frames"], self.n_mels, failures, counts_first=False)

    @classmethod
    def open(cls, cache_dir: Path | str, settings: FeatureSettings, verify: bool = True) -> "FeatureCache":
        """Open the cache at `cache_dir` built with `settings` (checked: fingerprint, sizes, checksums)."""
        cache_dir = Path(cache_dir)
        if kind_of(settings) != "logmel":
            raise ConfigError(f"FeatureCache holds log-mels; open a {kind_of(settings)} cache with open_feature_cache")
        index, failures, resolved = _checked_open(cache_dir, settings, verify)
        return cls(cache_dir, resolved, index, failures)

    def frames(self, item_id: str) -> int:
        return self._counts[item_id]


class VectorCache(_MemmapCache):
    """Every other kind: `view(item_id)` gives `(n_vectors, dim)` float32 (n_vectors = 1 for clip-level kinds)."""

    def __init__(self, cache_dir: Path, settings: Any, index: dict, failures: list[Problem]) -> None:
        self.kind = str(index["kind"])
        self.dim = int(index["dim"])
        super().__init__(cache_dir, settings, index["item_ids"], index["offsets"], index["n_vectors"], self.dim, failures, counts_first=True)

    @classmethod
    def open(cls, cache_dir: Path | str, settings: Any, verify: bool = True) -> "VectorCache":
        cache_dir = Path(cache_dir)
        if kind_of(settings) == "logmel":
            raise ConfigError("log-mel caches open with FeatureCache (or open_feature_cache)")
        index, failures, resolved = _checked_open(cache_dir, settings, verify)
        return cls(cache_dir, resolved, index, failures)

    def n_vectors(self, item_id: str) -> int:
        return self._counts[item_id]

    def clip_vector(self, item_id: str, pooling: str = "auto") -> np.ndarray:
        """One `(dim',)` vector for the item (see `sonolab.features.pooling.clip_vector`)."""
        return clip_vector(self.view(item_id), pooling)

    def clip_matrix(self, item_ids: Sequence[str], pooling: str = "auto") -> np.ndarray:
        """`(len(item_ids), dim')` float32 clip vectors in the given order (KeyError for a missing id)."""
        return np.stack([self.clip_vector(item_id, pooling) for item_id in item_ids]) if item_ids else np.zeros((0, self.dim), np.float32)


def cache_dir_for(cache_root: Path | str, settings: Any) -> Path:
    """The conventional folder of a kind's cache under `cache_root`: `<kind>-<settings fingerprint>`
    (one folder per trial's settings; the items digest is checked inside)."""
    return Path(cache_root) / f"{kind_of(settings)}-{settings.cache_fingerprint()}"


def open_feature_cache(cache_dir: Path | str, settings: Any, verify: bool = True) -> FeatureCache | VectorCache:
    """Open a verified cache of any kind: `FeatureCache` for logmel settings, `VectorCache` otherwise."""
    if kind_of(settings) == "logmel":
        return FeatureCache.open(cache_dir, settings, verify)
    return VectorCache.open(cache_dir, settings, verify)


def dataset_max_reference(cache: FeatureCache, train_ids: Sequence[str], settings: FeatureSettings) -> float:
    """The `dataset_max` reference over the training partition only (ids missing from the cache are skipped)."""
    present = [item_id for item_id in train_ids if item_id in cache]
    if not present:
        raise ConfigError("dataset_max needs at least one cached training item")
    return compute_dataset_max_reference((cache.view(item_id) for item_id in present), settings)


# --- extraction (runs in worker processes: module-level, never raises for a bad file) ------------------

ChunkResult = list[tuple[str, "np.ndarray | None", "str | None"]]


def _decode(item_id: str, path: str, sample_rate_hz: int) -> tuple[np.ndarray | None, str | None]:
    try:
        audio, _ = load_audio(Path(path), target_sample_rate_hz=sample_rate_hz, mono=True)
    except AudioLoadError as error:
        return None, str(error)
    return audio[0], None


def _log_mels(decoded: list[tuple[str, np.ndarray]], settings: FeatureSettings) -> list[np.ndarray | Exception]:
    from sonolab.features.logmel import log_mel_re_unity_batch_cpu

    try:
        return list(log_mel_re_unity_batch_cpu([waveform for _, waveform in decoded], settings, BATCH_SIZE))
    except Exception:  # one bad waveform must not lose the batch: retry one by one
        matrices: list[np.ndarray | Exception] = []
        for _, waveform in decoded:
            try:
                matrices.append(log_mel_re_unity_batch_cpu([waveform], settings)[0])
            except Exception as error:
                matrices.append(error)
        return matrices


def _process_chunk(job: tuple[Any, list[tuple[str, str]], bool]) -> ChunkResult:
    """Decode a chunk of files; extract their features unless `extract_here` is False (then the
    waveforms come back and the main process extracts). A bad file returns its reason."""
    settings, pairs, extract_here = job
    kind = kind_of(settings)
    module = kind_module(kind)
    rate_hz = module.decode_sample_rate_hz(settings)
    results: ChunkResult = []
    decoded: list[tuple[str, np.ndarray]] = []
    for item_id, path in pairs:
        waveform, reason = _decode(item_id, path, rate_hz)
        if waveform is None:
            results.append((item_id, None, reason or "could not decode"))
        else:
            decoded.append((item_id, waveform))
    if not extract_here:
        return results + [(item_id, waveform, None) for item_id, waveform in decoded]
    if kind == "logmel":
        for (item_id, _), matrix in zip(decoded, _log_mels(decoded, settings)):
            if isinstance(matrix, Exception):
                results.append((item_id, None, f"feature computation failed ({matrix})"))
            else:
                results.append((item_id, matrix, None))
        return results
    for item_id, waveform in decoded:
        results.append(_extract_one(module, item_id, waveform, rate_hz, settings))
    return results


def _extract_one(module: Any, item_id: str, waveform: np.ndarray, rate_hz: int, settings: Any) -> tuple[str, np.ndarray | None, str | None]:
    try:
        return item_id, np.asarray(module.extract(waveform, rate_hz, settings), dtype=np.float32), None
    except Exception as error:  # a failing clip is listed with its reason, never fatal
        return item_id, None, f"feature computation failed ({type(error).__name__}: {error})"


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
    settings: Any,
    cache_dir: Path | str,
    workers: int | None = None,
    progress: bool = True,
    known_failures: Sequence[Problem] = (),
) -> CacheBuildResult:
    """Compute and cache the features of `items` unless a valid cache for them and `settings` exists.

    `settings` chooses the kind (`FeatureSettings`: logmel; `sonolab.features.<kind>.Settings`
    otherwise). Decoding, resampling and extraction run in worker processes for large sets; failed
    files are skipped, listed in `failures.json` with their reasons (with `known_failures`, e.g.
    missing files found while indexing) and counted.
    """
    cache_dir = Path(cache_dir)
    kind = kind_of(settings)
    if kind == "logmel" and not settings.mono:
        raise ConfigError("the feature cache stores mono log-mels: set mono=true in the feature settings")
    kind_module(kind).require()
    duplicate_ids = [i for i, n in _count_ids(items).items() if n > 1]
    if duplicate_ids:
        raise DatasetError(f"duplicate item ids cannot be cached: {duplicate_ids[:5]} (fix: make ids unique)")
    digest = items_digest(items)
    problem = cache_problem(cache_dir, settings, digest)
    if problem is None:
        cache = open_feature_cache(cache_dir, settings, verify=False)
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


def _total_bytes(items: Sequence[Item]) -> int:
    total = 0
    for item in items:
        try:
            total += Path(item.path).stat().st_size
        except OSError:
            pass
    return total


def _shape_problem(array: np.ndarray, kind: str, settings: Any, dim: int | None) -> str | None:
    if kind == "logmel":
        if array.ndim != 2 or array.shape[0] != settings.n_mels or array.shape[1] == 0:
            return f"feature matrix of shape {array.shape} is not (n_mels={settings.n_mels}, frames)"
    elif array.ndim != 2 or array.shape[0] == 0 or (dim is not None and array.shape[1] != dim):
        return f"feature array of shape {array.shape} is not (n_vectors >= 1, dim={dim})"
    if not np.all(np.isfinite(array)):
        return f"feature array of shape {array.shape} is not finite"
    return None


def _write_cache(
    items: Sequence[Item], settings: Any, folder: Path, workers: int | None, progress: bool,
    failures: list[Problem], digest: str,
) -> tuple[int, list[Problem]]:
    kind = kind_of(settings)
    module = kind_module(kind)
    extract_in_workers = bool(module.EXTRACT_IN_WORKERS)
    paths = {item.item_id: str(item.path) for item in items}
    pairs = [(item.item_id, str(item.path)) for item in items]
    jobs = [(settings, pairs[start:start + CHUNK_FILES], extract_in_workers) for start in range(0, len(pairs), CHUNK_FILES)]
    min_files = min(MIN_FILES_PER_WORKER, int(getattr(module, "MIN_FILES_PER_WORKER", MIN_FILES_PER_WORKER)))
    # Work grows with audio, not with file count: long clips make even a few hundred files worth workers.
    work_units = max(len(pairs), round(_total_bytes(items) / (MIN_BYTES_PER_WORKER / MIN_FILES_PER_WORKER)))
    processes = workers_for(work_units if len(pairs) > 1 else 1, workers, min_files)
    if processes > 1 and extract_in_workers and hasattr(module, "warm_up"):
        # Forked workers inherit what the parent has loaded: import lazily loaded modules and compile
        # numba code (librosa.feature, pyin) once here instead of once per worker.
        module.warm_up(settings)
    ids: list[str] = []
    offsets: list[int] = []
    counts: list[int] = []
    dim: int | None = settings.n_mels if kind == "logmel" else None
    checksum = hashlib.sha256()
    offset = 0
    rate_hz = module.decode_sample_rate_hz(settings)
    chunks = map_in_workers(_process_chunk, jobs, processes, progress, f"computing {kind} features",
                            [len(job[1]) for job in jobs], chunksize=1)  # a job is already a chunk: balance the tail
    with (folder / FEATURES_FILE).open("wb") as handle:
        for chunk in chunks:
            for item_id, array, reason in chunk:
                if array is not None and not extract_in_workers:
                    item_id, array, reason = _extract_one(module, item_id, array, rate_hz, settings)
                if array is None:
                    failures.append(Problem(paths[item_id], reason or "could not decode", item_id))
                    continue
                array = np.ascontiguousarray(array, dtype=np.float32)
                shape_problem = _shape_problem(array, kind, settings, dim)
                if shape_problem is not None:
                    failures.append(Problem(paths[item_id], shape_problem, item_id))
                    continue
                dim = dim if dim is not None else int(array.shape[1])
                data = array.tobytes()
                handle.write(data)
                checksum.update(data)
                ids.append(item_id)
                offsets.append(offset)
                counts.append(int(array.shape[1] if kind == "logmel" else array.shape[0]))
                offset += array.size
        handle.flush()
        os.fsync(handle.fileno())
    if kind == "logmel":
        index: dict[str, Any] = {"item_ids": ids, "offsets": offsets, "frames": counts, "n_mels": settings.n_mels}
    else:
        index = {"kind": kind, "item_ids": ids, "offsets": offsets, "n_vectors": counts, "dim": dim or 0}
    write_json_atomic(folder / INDEX_FILE, index)
    settings.save(folder / SETTINGS_FILE)
    write_json_atomic(folder / FAILURES_FILE, [problem.to_dict() for problem in failures])
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION, "complete": True, "fingerprint": settings.cache_fingerprint(),
        "items_digest": digest, "item_count": len(ids), "failure_count": len(failures),
        "features_bytes": offset * 4, "features_sha256": checksum.hexdigest(),
        "index_sha256": _sha256_file(folder / INDEX_FILE),
    }
    if kind != "logmel":
        manifest["kind"] = kind
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
