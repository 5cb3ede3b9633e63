"""Leakage audit of a splits file: per fold, anything that lets test (or val) information into training.

Kinds of leak:
- `group`: one group (source clip, speaker, song) in two partitions;
- `parent`: an augmented variant in another partition than its parent (or any ancestor);
- `identical_audio`: the same decoded samples (content hash) in two partitions;
- `near_identical_audio`: a copy of the same recording in two partitions, found by the content index
  (`sonolab.data.content_index`): re-cut or shifted, gain or polarity changed, noisy (down to 10 dB SNR),
  reverberant, resampled, re-quantised, lossy-coded, pitch-shifted (+/-2 semitones) or time-stretched
  (0.85-1.15), or two of these at once. Each leak names what matched: lag, pitch, tempo and score.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sonolab.data.content_index import Match, SearchSettings, find_copies
from sonolab.data.fingerprint import FingerprintSettings
from sonolab.data.fingerprint_store import load_fingerprints
from sonolab.data.items import Problem
from sonolab.data.splits import Fold, Splits
from sonolab.errors import DatasetError, SonolabError

LEAK_KINDS: tuple[str, ...] = ("group", "parent", "identical_audio", "near_identical_audio")


@dataclass(frozen=True)
class Leak:
    """One leak in one fold: which ids, in which partitions, and why."""

    fold: str
    kind: str
    ids: list[str]
    partitions: list[str]
    detail: str
    match: dict[str, Any] | None = None  # near_identical_audio: lag_s, pitch_semitones, tempo_ratio, score

    def to_dict(self) -> dict[str, Any]:
        payload = {"fold": self.fold, "kind": self.kind, "ids": self.ids, "partitions": self.partitions, "detail": self.detail}
        if self.match is not None:
            payload["match"] = self.match
        return payload


@dataclass
class AuditReport:
    """All leaks found, plus what could not be checked (listed, never silently skipped)."""

    dataset: str
    strategy: str
    folds_checked: int
    items_checked: int
    audio_checked: bool
    leaks: list[Leak] = field(default_factory=list)
    unchecked: list[Problem] = field(default_factory=list)
    near_identical_pairs: int = 0
    fingerprints: dict[str, int] = field(default_factory=dict)  # {"reused": n, "computed": n} from the cache

    @property
    def ok(self) -> bool:
        return not self.leaks

    def counts(self) -> dict[str, int]:
        return {kind: sum(1 for leak in self.leaks if leak.kind == kind) for kind in LEAK_KINDS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "dataset": self.dataset, "strategy": self.strategy,
            "folds_checked": self.folds_checked, "items_checked": self.items_checked,
            "audio_checked": self.audio_checked, "leak_counts": self.counts(),
            "leaks": [leak.to_dict() for leak in self.leaks],
            "unchecked": [problem.to_dict() for problem in self.unchecked], "fingerprints": self.fingerprints,
            "complete": not self.unchecked,  # false: some items could not be checked (the command exits 1)
        }


def _partition_of(fold: Fold) -> tuple[dict[str, str], list[Leak]]:
    placement: dict[str, str] = {}
    leaks: list[Leak] = []
    for partition, ids in fold.partitions().items():
        for item_id in ids:
            if item_id in placement and placement[item_id] != partition:
                leaks.append(Leak(fold.name, "group", [item_id], sorted({placement[item_id], partition}),
                                  f"item {item_id!r} is in both {placement[item_id]} and {partition}"))
            placement.setdefault(item_id, partition)
    return placement, leaks


def _group_leaks(fold: Fold, splits: Splits, placement: dict[str, str]) -> list[Leak]:
    members: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for item_id, partition in placement.items():
        members[splits.groups.get(item_id, item_id)][partition].append(item_id)
    leaks = []
    for group, by_partition in sorted(members.items()):
        if len(by_partition) > 1:
            ids = sorted(i for ids in by_partition.values() for i in ids)
            parts = sorted(by_partition)
            leaks.append(Leak(fold.name, "group", ids, parts,
                              f"group {group!r} is in {', '.join(parts)} ({', '.join(f'{p}: {len(by_partition[p])}' for p in parts)} items)"))
    return leaks


def _ancestors(item_id: str, parents: dict[str, str | None]) -> Iterable[str]:
    seen = {item_id}
    current = parents.get(item_id)
    while current is not None and current not in seen:
        yield current
        seen.add(current)
        current = parents.get(current)


def _parent_leaks(fold: Fold, splits: Splits, placement: dict[str, str]) -> list[Leak]:
    leaks = []
    for item_id, partition in sorted(placement.items()):
        for ancestor in _ancestors(item_id, splits.parents):
            other = placement.get(ancestor)
            if other is not None and other != partition:
                leaks.append(Leak(fold.name, "parent", [item_id, ancestor], [partition, other],
                                  f"variant {item_id!r} ({partition}) derives from {ancestor!r} ({other})"))
    return leaks


def _audio_paths(splits: Splits, root: Path | None, ids: set[str]) -> tuple[dict[str, Path], list[Problem]]:
    """Where each id's audio lives: the splits file's `paths`, else the dataset re-indexed at the root."""
    paths: dict[str, Path] = {}
    for item_id in ids:
        path = splits.resolve_path(item_id, root)
        if path is not None:
            paths[item_id] = path
    missing = ids - set(paths)
    if missing and root is not None:
        from sonolab.data.registry import load_dataset

        try:
            index = load_dataset(splits.dataset, root, strict=False)
            for item in index.items:
                if item.item_id in missing:
                    paths[item.item_id] = item.path
        except SonolabError:
            pass
    problems = [Problem("", "no audio path known for this id (not checked for identical audio)", i) for i in sorted(ids - set(paths))]
    return paths, problems


def _crosses_partitions(pair: tuple[str, str], placements: list[dict[str, str]]) -> bool:
    for placement in placements:
        a, b = placement.get(pair[0]), placement.get(pair[1])
        if a is not None and b is not None and a != b:
            return True
    return False


def audit_splits(
    splits: Splits,
    root: Path | str | None = None,
    workers: int | None = None,
    progress: bool = False,
    check_audio: bool | None = None,
    cache_dir: Path | str | None = None,
    paths: dict[str, Path] | None = None,
    fingerprint_settings: FingerprintSettings | None = None,
    search: SearchSettings | None = None,
) -> AuditReport:
    """Audit every fold of `splits` for leaks (see the module docstring).

    Audio checks need the files: they use `paths` (id -> file) when given, else `root` (or the root
    recorded in the splits file when it exists). `check_audio=False` checks groups and parents only.
    Fingerprints are cached under `cache_dir` when given (reused while the files are unchanged).
    """
    if root is not None and not Path(root).is_dir():
        raise DatasetError(f"{root}: dataset root not found (fix: pass --root the folder the splits were made from, or leave it out to use {splits.root})")
    root_path = Path(root) if root is not None else (Path(splits.root) if splits.root and Path(splits.root).is_dir() else None)
    if check_audio is None:
        check_audio = root_path is not None or paths is not None
    placements = []
    leaks: list[Leak] = []
    all_ids: set[str] = set()
    for fold in splits.folds:
        placement, duplicates = _partition_of(fold)
        placements.append(placement)
        all_ids |= set(placement)
        leaks += duplicates + _group_leaks(fold, splits, placement) + _parent_leaks(fold, splits, placement)
    report = AuditReport(splits.dataset, splits.strategy, len(splits.folds), len(all_ids), bool(check_audio))
    if check_audio:
        leaks += _audio_leaks(splits, root_path, all_ids, placements, workers, progress, report, cache_dir, paths,
                              fingerprint_settings or FingerprintSettings(), search or SearchSettings())
    report.leaks = leaks
    return report


def _audio_leaks(
    splits: Splits, root: Path | None, ids: set[str], placements: list[dict[str, str]],
    workers: int | None, progress: bool, report: AuditReport, cache_dir: Path | str | None,
    known_paths: dict[str, Path] | None, settings: FingerprintSettings, search: SearchSettings,
) -> list[Leak]:
    if known_paths is not None:
        paths = {i: Path(known_paths[i]) for i in ids if i in known_paths}
        unchecked = [Problem("", "no audio path known for this id (not checked for copies)", i) for i in sorted(ids - set(paths))]
    else:
        paths, unchecked = _audio_paths(splits, root, ids)
    prints_by_id, problems, counts = load_fingerprints(paths, settings, Path(cache_dir) if cache_dir else None, workers, progress)
    report.unchecked = unchecked + problems
    report.fingerprints = counts
    prints = [prints_by_id[i] for i in sorted(prints_by_id)]
    leaks: list[Leak] = []
    by_hash: dict[str, list[str]] = defaultdict(list)
    for fp in prints:
        by_hash[fp.samples_hash].append(fp.item_id)
    identical_sets = [sorted(ids_) for ids_ in by_hash.values() if len(ids_) > 1]
    identical_pairs = {frozenset((a, b)) for same in identical_sets for a in same for b in same if a != b}

    def crosses(first: str, second: str) -> bool:
        return frozenset((first, second)) not in identical_pairs and _crosses_partitions((first, second), placements)

    # clips in the same partition of every fold can never leak into each other: left out of the shortlist itself
    blocks = {fp.item_id: tuple(placement.get(fp.item_id) for placement in placements) for fp in prints}
    near_pairs: list[Match] = find_copies(prints, settings, search, keep_pair=crosses, progress=progress, workers=workers,
                                          blocks=blocks, paths=paths)
    report.near_identical_pairs = len(near_pairs)
    for fold, placement in zip(splits.folds, placements):
        for same in identical_sets:
            present = {item_id: placement[item_id] for item_id in same if item_id in placement}
            if len(set(present.values())) > 1:
                leaks.append(Leak(fold.name, "identical_audio", sorted(present), sorted(set(present.values())),
                                  "identical decoded audio in " + ", ".join(f"{i} ({p})" for i, p in sorted(present.items()))))
        for match in near_pairs:
            a, b = match.first, match.second
            if a in placement and b in placement and placement[a] != placement[b]:
                leaks.append(Leak(fold.name, "near_identical_audio", [a, b], [placement[a], placement[b]],
                                  f"{a} ({placement[a]}) and {b} ({placement[b]}) are copies of one recording: {match.describe()}",
                                  match.to_dict()))
    return leaks
