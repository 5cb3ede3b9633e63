"""Leakage audit of a splits file: per fold, anything that lets test (or val) information into training.

Kinds of leak:
- `group`: one group (source clip, speaker, song) in two partitions;
- `parent`: an augmented variant in another partition than its parent (or any ancestor);
- `identical_audio`: the same decoded samples (content hash) in two partitions;
- `near_identical_audio`: the same clip after a gain change or added noise (>= 20 dB SNR) in two
  partitions: a correlation sketch shortlists pairs, an exact waveform correlation confirms them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.data.content_hash import AudioFingerprint, fingerprint_file, load_mono, waveform_correlation
from sonolab.data.items import Problem
from sonolab.data.parallel import map_in_workers
from sonolab.data.splits import Fold, Splits
from sonolab.errors import AudioLoadError, DatasetError, SonolabError

LEAK_KINDS: tuple[str, ...] = ("group", "parent", "identical_audio", "near_identical_audio")
NEAR_IDENTICAL_CORRELATION = 0.98  # noise at 20 dB SNR gives 0.995; 0.98 is about 14 dB SNR
SHORTLIST_SKETCH_SIMILARITY = 0.6  # sketch std is about 0.03: unrelated clips never reach it
LENGTH_TOLERANCE = 0.001  # relative length difference still compared


@dataclass(frozen=True)
class Leak:
    """One leak in one fold: which ids, in which partitions, and why."""

    fold: str
    kind: str
    ids: list[str]
    partitions: list[str]
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"fold": self.fold, "kind": self.kind, "ids": self.ids, "partitions": self.partitions, "detail": self.detail}


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
            "unchecked": [problem.to_dict() for problem in self.unchecked],
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


def _near_identical_candidates(prints: list[AudioFingerprint]) -> list[tuple[str, str]]:
    """Pairs with the same sample rate, nearly the same length and similar correlation sketches."""
    usable = [fp for fp in prints if not fp.silent]
    usable.sort(key=lambda fp: (fp.sample_rate_hz, fp.length_samples))
    if len(usable) < 2:
        return []
    rates = np.asarray([fp.sample_rate_hz for fp in usable], dtype=np.int64)
    lengths = np.asarray([fp.length_samples for fp in usable], dtype=np.int64)
    keys = rates * (1 << 40) + lengths
    sketches = np.stack([fp.sketch for fp in usable])
    pairs = []
    for i in range(len(usable) - 1):
        tolerance = max(1, int(lengths[i] * LENGTH_TOLERANCE))
        end = int(np.searchsorted(keys, keys[i] + tolerance, side="right"))
        if end <= i + 1:
            continue
        similarity = sketches[i + 1:end] @ sketches[i]
        for offset in np.flatnonzero(similarity >= SHORTLIST_SKETCH_SIMILARITY):
            other = usable[i + 1 + int(offset)]
            if other.samples_hash != usable[i].samples_hash:
                pairs.append((usable[i].item_id, other.item_id))
    return pairs


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
) -> AuditReport:
    """Audit every fold of `splits` for leaks (see the module docstring).

    Audio checks need the files: they use `root` (or the root recorded in the splits file when it
    exists). `check_audio=False` checks groups and parents only.
    """
    if root is not None and not Path(root).is_dir():
        raise DatasetError(f"{root}: dataset root not found (fix: pass --root the folder the splits were made from, or leave it out to use {splits.root})")
    root_path = Path(root) if root is not None else (Path(splits.root) if splits.root and Path(splits.root).is_dir() else None)
    if check_audio is None:
        check_audio = root_path is not None
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
        leaks += _audio_leaks(splits, root_path, all_ids, placements, workers, progress, report)
    report.leaks = leaks
    return report


def _audio_leaks(
    splits: Splits, root: Path | None, ids: set[str], placements: list[dict[str, str]],
    workers: int | None, progress: bool, report: AuditReport,
) -> list[Leak]:
    paths, unchecked = _audio_paths(splits, root, ids)
    jobs = [(item_id, str(paths[item_id])) for item_id in sorted(paths)]
    prints: list[AudioFingerprint] = []
    for result in map_in_workers(fingerprint_file, jobs, workers, progress, "fingerprinting audio"):
        if isinstance(result, AudioFingerprint):
            prints.append(result)
        else:
            unchecked.append(Problem(str(paths[result[0]]), result[1], result[0]))
    report.unchecked = unchecked
    leaks: list[Leak] = []
    by_hash: dict[str, list[str]] = defaultdict(list)
    for fp in prints:
        by_hash[fp.samples_hash].append(fp.item_id)
    identical_sets = [sorted(ids_) for ids_ in by_hash.values() if len(ids_) > 1]
    near_pairs = []

    @lru_cache(maxsize=64)
    def mono(item_id: str) -> np.ndarray:
        return load_mono(paths[item_id])

    for pair in _near_identical_candidates(prints):
        if not _crosses_partitions(pair, placements):
            continue
        try:
            correlation = waveform_correlation(mono(pair[0]), mono(pair[1]))
        except AudioLoadError:
            continue
        if abs(correlation) >= NEAR_IDENTICAL_CORRELATION:
            near_pairs.append((pair, correlation))
    report.near_identical_pairs = len(near_pairs)
    for fold, placement in zip(splits.folds, placements):
        for same in identical_sets:
            present = {item_id: placement[item_id] for item_id in same if item_id in placement}
            if len(set(present.values())) > 1:
                leaks.append(Leak(fold.name, "identical_audio", sorted(present), sorted(set(present.values())),
                                  "identical decoded audio in " + ", ".join(f"{i} ({p})" for i, p in sorted(present.items()))))
        for (a, b), correlation in near_pairs:
            if a in placement and b in placement and placement[a] != placement[b]:
                leaks.append(Leak(fold.name, "near_identical_audio", [a, b], [placement[a], placement[b]],
                                  f"{a} ({placement[a]}) and {b} ({placement[b]}) correlate at {correlation:.4f} "
                                  "(same clip after gain change or added noise)"))
    return leaks
