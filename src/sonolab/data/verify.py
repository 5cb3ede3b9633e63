"""Dataset integrity check: metadata vs files, undecodable audio, label parsing, duplicate content.

Every problem is listed with its kind, file and reason; `ok` is true only when there are none.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sonolab.audio.io import load_audio
from sonolab.data.content_hash import samples_hash
from sonolab.data.items import DatasetIndex, Problem
from sonolab.data.merge_parts import artist_statistics
from sonolab.data.parallel import map_in_workers
from sonolab.data.registry import load_dataset
from sonolab.errors import AudioLoadError

GROUP_UNITS: dict[str, str] = {"fsdd": "speakers", "emodb": "speakers", "esc50": "source recordings", "merge": "songs", "folder": "groups"}
EXPECTED_DURATION_S: dict[str, float] = {"esc50": 5.0}


@dataclass(frozen=True)
class VerifyProblem:
    kind: str  # no_audio, missing_file, extra_file, bad_name, path_outside_root, bad_row, duplicate_row, unreadable, empty, non_finite, truncated, wrong_length, duplicate_content, near_duplicates, misplaced_file
    path: str
    reason: str
    item_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "reason": self.reason, "item_id": self.item_id}


@dataclass
class VerifyReport:
    dataset: str
    root: str
    file_count: int
    item_count: int
    readable_count: int
    class_counts: dict[str, int]
    group_count: int
    group_unit: str
    problems: list[VerifyProblem] = field(default_factory=list)
    songs_per_artist: dict[str, int] | None = None  # music datasets grouped by artist (merge_parts.artist_statistics)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def class_count(self) -> int:
        return len(self.class_counts)

    def problem_counts(self) -> dict[str, int]:
        return dict(Counter(problem.kind for problem in self.problems))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "dataset": self.dataset, "root": self.root, "files": self.file_count,
            "items": self.item_count, "readable": self.readable_count, "classes": self.class_count,
            "class_counts": self.class_counts, "groups": self.group_count, "group_unit": self.group_unit,
            "problem_counts": self.problem_counts(), "problems": [problem.to_dict() for problem in self.problems],
            **({"songs_per_artist": self.songs_per_artist} if self.songs_per_artist is not None else {}),
        }


# How the music loaders (merge parts, 4q) word their problems -> the kind verify reports.
_MUSIC_REASON_KINDS: tuple[tuple[str, str], ...] = (
    ("file missing", "missing_file"), ("unreadable audio", "unreadable"), ("absent from the", "extra_file"),
    ("but annotated", "misplaced_file"),
)


def _index_problem_kind(problem: Problem) -> str:
    reason = problem.reason
    if "outside the dataset root" in reason:
        return "path_outside_root"
    for prefix, kind in (("missing file", "missing_file"), ("extra file", "extra_file"), ("unparseable name", "bad_name"),
                         ("bad metadata row", "bad_row"), ("duplicate", "duplicate_row"), ("audio file outside", "misplaced_file")):
        if reason.startswith(prefix):
            return kind
    for fragment, kind in _MUSIC_REASON_KINDS:
        if fragment in reason:
            return kind
    return "metadata"


def _audio_problem_kind(reason: str) -> str:
    for prefix, kind in (("empty", "empty"), ("non-finite", "non_finite"), ("truncated", "truncated"), ("file not found", "missing_file")):
        if reason.startswith(prefix):
            return kind
    return "unreadable"


def _check_file(job: tuple[str, str, float | None]) -> tuple[str, str | None, str | None, str | None]:
    """(item_id, content hash, problem kind, reason) for one file; never raises for a bad file."""
    item_id, path, expected_duration_s = job
    try:
        audio, sample_rate_hz = load_audio(Path(path))
    except AudioLoadError as error:
        return item_id, None, _audio_problem_kind(error.reason), str(error)
    if expected_duration_s is not None:
        expected = int(round(expected_duration_s * sample_rate_hz))
        if abs(audio.shape[1] - expected) > 1:
            return item_id, samples_hash(audio, sample_rate_hz), "wrong_length", (
                f"{path}: {audio.shape[1]} samples ({audio.shape[1] / sample_rate_hz:.3f} s), expected {expected_duration_s:g} s")
    return item_id, samples_hash(audio, sample_rate_hz), None, None


def near_duplicate_problems(index: DatasetIndex, workers: int | None = None, progress: bool = False,
                            cache_dir: Path | None = None) -> list[VerifyProblem]:
    """One `near_duplicates` problem per cluster of recordings that are copies of each other (re-cut,
    noisy, re-encoded, pitch-shifted, stretched: see `sonolab.data.content_index`): they inflate one
    source even inside one partition. Exact copies are left to `duplicate_content`."""
    from sonolab.data.content_index import find_copies
    from sonolab.data.fingerprint import FingerprintSettings
    from sonolab.data.fingerprint_store import load_fingerprints

    settings = FingerprintSettings()
    paths = {item.item_id: item.path for item in index.items}
    prints, _, _ = load_fingerprints(paths, settings, cache_dir, workers, progress)
    ordered = [prints[i] for i in sorted(prints)]
    matches = [m for m in find_copies(ordered, settings, progress=progress, workers=workers, paths=paths)
               if prints[m.first].samples_hash != prints[m.second].samples_hash]
    parent = {item_id: item_id for m in matches for item_id in (m.first, m.second)}

    def root_of(item_id: str) -> str:
        while parent[item_id] != item_id:
            parent[item_id] = parent[parent[item_id]]
            item_id = parent[item_id]
        return item_id

    for m in matches:
        parent[root_of(m.first)] = root_of(m.second)
    clusters: dict[str, list[str]] = defaultdict(list)
    for item_id in parent:
        clusters[root_of(item_id)].append(item_id)
    paths = {item.item_id: str(item.path) for item in index.items}
    problems = []
    for members in sorted(sorted(c) for c in clusters.values()):
        strongest = max((m for m in matches if m.first in members), key=lambda m: m.score)
        problems.append(VerifyProblem("near_duplicates", paths[members[0]],
                                      f"{len(members)} recordings are copies of one another: {', '.join(members)} "
                                      f"(strongest: {strongest.first} ~ {strongest.second}, {strongest.describe()}) "
                                      "(fix: give them one group, or keep one)", members[0]))
    return problems


def verify_index(index: DatasetIndex, workers: int | None = None, progress: bool = False,
                 near_duplicates: bool = False) -> VerifyReport:
    """Decode every item of `index` and collect every problem (with `near_duplicates`, also clusters
    of recordings that are copies of one another)."""
    problems = [VerifyProblem(_index_problem_kind(p), p.path, p.reason, p.item_id) for p in index.problems]
    if not index.items and not index.problems:  # an empty dataset is not a verified one
        problems.append(VerifyProblem("no_audio", str(index.root), f"{index.root}: no audio files found for {index.name} (fix: check --root and the dataset's layout)"))
    expected = EXPECTED_DURATION_S.get(index.name)
    # Lyrics-only items (MERGE lyrics part) have no audio to decode; their loader already read every text file.
    jobs = [(item.item_id, str(item.path), expected) for item in index.items if item.metadata.get("part") != "lyrics"]
    readable = len(index.items) - len(jobs)
    paths = {item.item_id: str(item.path) for item in index.items}
    by_hash: dict[str, list[str]] = defaultdict(list)
    for item_id, digest, kind, reason in map_in_workers(_check_file, jobs, workers, progress, f"verifying {index.name}"):
        if digest is not None:
            by_hash[digest].append(item_id)
        if kind is None:
            readable += 1
        else:
            problems.append(VerifyProblem(kind, paths[item_id], reason or kind, item_id))
    for ids in by_hash.values():
        if len(ids) > 1:
            ids = sorted(ids)
            for item_id in ids[1:]:
                problems.append(VerifyProblem("duplicate_content", paths[item_id],
                                              f"{paths[item_id]}: same decoded audio as {ids[0]} ({paths[ids[0]]})", item_id))
    if near_duplicates and index.items:
        problems += near_duplicate_problems(index, workers, progress)
    artists = artist_statistics(index)
    on_disk_problem_files = {p.path for p in index.problems if Path(p.path).is_file()}
    return VerifyReport(
        dataset=index.name, root=str(index.root), file_count=len(index.items) + len(on_disk_problem_files),
        item_count=len(index.items), readable_count=readable,
        class_counts=dict(sorted(Counter(str(item.label) for item in index.items).items())),
        group_count=len({item.group for item in index.items}), group_unit=_group_unit(index, artists),
        problems=problems, songs_per_artist=artists,
    )


def _group_unit(index: DatasetIndex, artists: dict[str, int] | None) -> str:
    if artists is not None:
        return "artists (songs without one: by song)" if artists["songs_without_artist"] else "artists"
    if index.name.startswith("merge") or index.name == "4q":
        return "songs"
    return GROUP_UNITS.get(index.name, "groups")


def verify_dataset(name: str, root: Path | str, workers: int | None = None, progress: bool = False,
                   near_duplicates: bool = False) -> VerifyReport:
    """Index dataset `name` at `root` leniently (bad names become problems) and verify every file."""
    return verify_index(load_dataset(name, root, strict=False), workers=workers, progress=progress, near_duplicates=near_duplicates)
