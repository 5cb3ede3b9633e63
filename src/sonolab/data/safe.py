"""SAFE-DB equaliser user data: parse, clean descriptors, report bad rows, group by contributor.

The CSV (no header, 25 columns) is described in the dataset's README: column 1 is the typed descriptor,
column 2 the contributor's IP address, columns 5-17 the 13 plug-in parameters. The IP is personal data:
it is turned into a salted hash at once and never kept, written or printed. The bundled copy in
`sonolab/assets/safe` already has column 2 replaced by such an id (prefix `contributor:`).

Every row that cannot be used is listed (`SafeProblem`: row number and reason), never silently used or
dropped; rows of non-descriptors and rare terms are counted in `dropped`.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.audio.eq import PLUGIN_LIMITS, EqSetting, limit_violations
from sonolab.errors import DatasetError

SAFE_CSV_NAME = "SAFEEqualiserUserData.csv"
SAFE_COLUMN_COUNT = 25
DESCRIPTOR_COLUMN = 1
CONTRIBUTOR_COLUMN = 2
FIRST_PARAMETER_COLUMN = 5
HASHED_CONTRIBUTOR_PREFIX = "contributor:"

DEFAULT_ALIASES: dict[str, str] = {
    "brighter": "bright",
    "brightness": "bright",
    "warmer": "warm",
    "warmth": "warm",
    "fuller": "full",
    "air": "airy",
    "clearer": "clear",
    "thinner": "thin",
    "deeper": "deep",
    "boomier": "boomy",
    "muddier": "muddy",
}
"""Inflected forms mapped onto their base descriptor (configurable)."""

DEFAULT_NON_DESCRIPTORS: frozenset[str] = frozenset({"test", "re27", "testing", "test1", "asdf", ""})
"""Entries that are not descriptions of a sound (plug-in tests, preset names); configurable."""

DEFAULT_MIN_COUNT_PER_TERM = 5
DEFAULT_CONTRIBUTOR_SALT = "sonolab-safe-contributor-v1"


@dataclass(frozen=True)
class SafeProblem:
    """A row that could not be used: its 1-based row number in the file and why."""

    row_number: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row_number": self.row_number, "reason": self.reason}


@dataclass(frozen=True)
class SafeRow:
    """One usable entry: cleaned term, pseudonymous contributor, the 13 parameters."""

    row_number: int
    entry_id: str
    term: str
    raw_descriptor: str
    contributor_id: str  # salted hash, never the IP
    setting: EqSetting


@dataclass
class SafeDataset:
    """The kept rows, the terms kept (sorted by count, then name), and everything dropped or wrong."""

    source: Path
    rows: list[SafeRow]
    terms: list[str]
    problems: list[SafeProblem] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> row count (non-descriptor, rare term)
    rows_read: int = 0

    def vectors(self) -> np.ndarray:
        return np.stack([row.setting.to_vector() for row in self.rows]) if self.rows else np.zeros((0, len(PLUGIN_LIMITS)))

    def labels(self) -> np.ndarray:
        return np.array([row.term for row in self.rows], dtype=object)

    def group_indices(self) -> np.ndarray:
        """Contributor as an integer in order of first appearance (stable, whatever the salt)."""
        order: dict[str, int] = {}
        return np.array([order.setdefault(row.contributor_id, len(order)) for row in self.rows], dtype=np.int64)

    def term_counts(self) -> dict[str, int]:
        return dict(Counter(row.term for row in self.rows).most_common())

    def summary(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "rows_read": self.rows_read,
            "rows_kept": len(self.rows),
            "contributors": len(set(row.contributor_id for row in self.rows)),
            "term_counts": self.term_counts(),
            "dropped": dict(self.dropped),
            "problems": len(self.problems),
            "problem_rows": [problem.to_dict() for problem in self.problems],
        }


def hash_contributor(raw_value: str, salt: str = DEFAULT_CONTRIBUTOR_SALT) -> str:
    """Pseudonymous contributor id: salted SHA-256 of the raw value (an IP), 12 hex characters.

    Values already carrying the `contributor:` prefix (the bundled copy) are kept as they are.
    """
    value = raw_value.strip()
    if value.startswith(HASHED_CONTRIBUTOR_PREFIX):
        return value
    digest = hashlib.sha256(f"{salt}|{value}".encode()).hexdigest()[:12]
    return f"{HASHED_CONTRIBUTOR_PREFIX}{digest}"


def clean_descriptor(raw: str, aliases: dict[str, str] | None = None) -> str:
    """Lower-case, strip, collapse inner whitespace, then map aliases ("brighter" -> "bright")."""
    term = " ".join(raw.strip().lower().split())
    return (DEFAULT_ALIASES if aliases is None else aliases).get(term, term)


def find_safe_csv(root: str | Path) -> Path:
    """The CSV inside `root` (a folder holding SAFEEqualiserUserData.csv, or the CSV itself)."""
    root = Path(root)
    if root.is_file():
        return root
    candidate = root / SAFE_CSV_NAME
    if candidate.is_file():
        return candidate
    raise DatasetError(f"{candidate}: SAFE-DB CSV not found (fix: pass --root the folder that holds {SAFE_CSV_NAME})")


def bundled_safe_csv() -> Path:
    """The bundled copy (IP column replaced by salted contributor hashes)."""
    return Path(str(resources.files("sonolab") / "assets" / "safe" / SAFE_CSV_NAME))


def parse_row(cells: list[str], row_number: int, tolerance: float = 1e-4) -> tuple[np.ndarray | None, str | None]:
    """(13 values, None) for a good row, else (None, reason). Values within `tolerance` of a limit are clipped in."""
    if len(cells) != SAFE_COLUMN_COUNT:
        return None, f"expected {SAFE_COLUMN_COUNT} columns, found {len(cells)}"
    raw_values = cells[FIRST_PARAMETER_COLUMN : FIRST_PARAMETER_COLUMN + len(PLUGIN_LIMITS)]
    values = []
    for limit, text in zip(PLUGIN_LIMITS, raw_values):
        try:
            value = float(text)
        except ValueError:
            return None, f"{limit.name} is not a number ({text!r})"
        if not math.isfinite(value):
            return None, f"{limit.name} is not finite ({text!r})"
        values.append(value)
    vector = np.array(values, dtype=np.float64)
    violations = limit_violations(vector, tolerance)
    if violations:
        return None, "; ".join(violations)
    lows = np.array([limit.minimum for limit in PLUGIN_LIMITS])
    highs = np.array([limit.maximum for limit in PLUGIN_LIMITS])
    return np.clip(vector, lows, highs), None


def load_safe_csv(
    path: str | Path,
    aliases: dict[str, str] | None = None,
    non_descriptors: frozenset[str] | set[str] | None = None,
    min_count_per_term: int = DEFAULT_MIN_COUNT_PER_TERM,
    salt: str = DEFAULT_CONTRIBUTOR_SALT,
) -> SafeDataset:
    """Parse a SAFE-DB CSV (file or folder). Bad rows go to `problems`, dropped rows are counted.

    A term is kept when at least `min_count_per_term` valid rows carry it (after aliasing).
    """
    path = find_safe_csv(path)
    non_descriptors = DEFAULT_NON_DESCRIPTORS if non_descriptors is None else frozenset(non_descriptors)
    problems: list[SafeProblem] = []
    candidates: list[SafeRow] = []
    dropped: Counter[str] = Counter()
    rows_read = 0
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise DatasetError(f"{path}: cannot read ({error}) (fix: check the file's permissions)") from error
    with handle:
        try:
            for row_number, cells in enumerate(csv.reader(handle), start=1):
                if not cells or all(not cell.strip() for cell in cells):
                    continue
                rows_read += 1
                vector, reason = parse_row(cells, row_number)
                if reason is None and len(cells) > CONTRIBUTOR_COLUMN and not cells[DESCRIPTOR_COLUMN].strip():
                    reason = "empty descriptor"
                if reason is not None or vector is None:
                    problems.append(SafeProblem(row_number, reason or "unparseable"))
                    continue
                term = clean_descriptor(cells[DESCRIPTOR_COLUMN], aliases)
                if term in non_descriptors:
                    dropped[f"non-descriptor '{term}'"] += 1
                    continue
                candidates.append(
                    SafeRow(
                        row_number=row_number,
                        entry_id=cells[0].strip(),
                        term=term,
                        raw_descriptor=cells[DESCRIPTOR_COLUMN],
                        contributor_id=hash_contributor(cells[CONTRIBUTOR_COLUMN], salt),
                        setting=EqSetting.from_vector(vector),
                    )
                )
        except (UnicodeDecodeError, csv.Error) as error:  # a binary or non-UTF-8 file given as the CSV
            raise DatasetError(f"{path}: not a UTF-8 SAFE-DB CSV ({error}) (fix: pass {SAFE_CSV_NAME} or a copy saved as UTF-8 text)") from error
    if rows_read == 0:
        raise DatasetError(f"{path}: no rows (fix: point --root at the SAFE-DB folder holding a non-empty {SAFE_CSV_NAME})")
    counts = Counter(row.term for row in candidates)
    kept_terms = sorted((term for term, count in counts.items() if count >= min_count_per_term), key=lambda t: (-counts[t], t))
    rare = sum(count for term, count in counts.items() if count < min_count_per_term)
    if rare:
        dropped[f"terms with fewer than {min_count_per_term} rows"] = rare
    kept = set(kept_terms)
    rows = [row for row in candidates if row.term in kept]
    if not rows:
        raise DatasetError(f"{path}: no term has {min_count_per_term} valid rows (fix: lower the minimum count or check the file)")
    return SafeDataset(source=path, rows=rows, terms=kept_terms, problems=problems, dropped=dict(dropped), rows_read=rows_read)


def grouped_holdout(dataset: SafeDataset, holdout_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): whole contributors are held out (GroupShuffleSplit)."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = dataset.group_indices()
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must lie in (0, 1), got {holdout_fraction}")
    if len(np.unique(groups)) < 2:
        raise DatasetError(f"{dataset.source}: only one contributor; a held-out split by contributor is impossible")
    splitter = GroupShuffleSplit(n_splits=1, test_size=holdout_fraction, random_state=seed)
    train_index, test_index = next(splitter.split(np.zeros(len(groups)), groups=groups))
    return np.sort(train_index), np.sort(test_index)


def write_pseudonymised_copy(source: str | Path, destination: str | Path, salt: str) -> int:
    """Copy a SAFE CSV with column 2 (IP) replaced by `hash_contributor(ip, salt)`; returns rows written.

    Use a secret, random `salt` that is then thrown away, so the ids cannot be reversed by trying IPs.
    """
    from sonolab.atomic import atomic_path

    source = find_safe_csv(source)
    written = 0
    with source.open(newline="", encoding="utf-8") as reader_handle, atomic_path(destination) as temporary:
        with temporary.open("w", newline="", encoding="utf-8") as writer_handle:
            writer = csv.writer(writer_handle, lineterminator="\n")
            for cells in csv.reader(reader_handle):
                if len(cells) > CONTRIBUTOR_COLUMN:
                    cells = list(cells)
                    cells[CONTRIBUTOR_COLUMN] = hash_contributor(cells[CONTRIBUTOR_COLUMN], salt)
                writer.writerow(cells)
                written += 1
    return written
