"""ESC-50: `meta/esc50.csv` (filename,fold,target,category,esc10,src_file,take) and `audio/*.wav`.

Item id = file stem, label = category, group = src_file (clips cut from one recording), metadata
{"fold", "target", "esc10", "take"}. Rows whose file is missing and files on disk without a row are
listed as problems, never dropped silently.
"""

from __future__ import annotations

from pathlib import Path

from sonolab.data.items import DatasetIndex, Item, Problem
from sonolab.data.paths import audio_files, read_csv_dicts, require_directory, resolve_inside
from sonolab.errors import DatasetError

REQUIRED_COLUMNS: tuple[str, ...] = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
CLIP_DURATION_S = 5.0
SAMPLE_RATE_HZ = 44100


def metadata_path(root: Path) -> Path:
    path = root / "meta" / "esc50.csv"
    if not path.is_file():
        raise DatasetError(f"{path}: ESC-50 metadata not found (fix: pass the ESC-50 root that holds meta/esc50.csv and audio/)")
    return path


def _parse_row(row: dict[str, str], line: int, csv_path: Path, audio_dir: Path) -> Item:
    source = f"{csv_path}:{line}"
    if None in row or any(value is None for value in row.values()):
        found = len([v for k, v in row.items() if k is not None and v is not None]) + len(row.get(None) or [])  # type: ignore[arg-type]
        raise DatasetError(f"{source}: {found} fields, expected {len(REQUIRED_COLUMNS)} ({','.join(REQUIRED_COLUMNS)}) (fix: correct the row)")
    filename = (row.get("filename") or "").strip()
    if not filename:
        raise DatasetError(f"{source}: empty filename (fix: fill in or remove the row)")
    path = resolve_inside(audio_dir, filename, source)
    try:
        fold = int(row["fold"])
        target = int(row["target"])
    except (TypeError, ValueError) as error:
        raise DatasetError(f"{source}: fold and target must be integers ({error}) (fix: correct the row)") from error
    category = (row.get("category") or "").strip()
    src_file = (row.get("src_file") or "").strip()
    if not category or not src_file:
        raise DatasetError(f"{source}: category and src_file must not be empty (fix: correct the row)")
    metadata = {
        "fold": fold, "target": target, "esc10": (row.get("esc10") or "").strip().lower() == "true",
        "take": (row.get("take") or "").strip(),
    }
    return Item(Path(filename).stem, path, category, src_file, metadata=metadata)


def load_esc50(root: Path | str, strict: bool = True) -> DatasetIndex:
    """Index ESC-50. `strict=False` lists bad rows as problems instead of raising."""
    root = Path(root)
    csv_path = metadata_path(root)
    audio_dir = require_directory(root / "audio", "ESC-50 audio/ folder", "pass the ESC-50 root that holds audio/")
    items: list[Item] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    fieldnames, rows = read_csv_dicts(csv_path)
    missing_columns = [name for name in REQUIRED_COLUMNS if name not in fieldnames]
    if missing_columns:
        raise DatasetError(f"{csv_path}: missing columns {', '.join(missing_columns)} (fix: use the official esc50.csv)")
    for line, row in enumerate(rows, start=2):
        try:
            item = _parse_row(row, line, csv_path, audio_dir)
        except DatasetError as error:
            if strict:  # lenient (verify, features): listed, and the file is never opened
                raise
            problems.append(Problem(f"{csv_path}:{line}", f"bad metadata row: {error}"))
            continue
        if item.item_id in seen:
            problems.append(Problem(str(item.path), f"duplicate metadata row (lines {seen[item.item_id]} and {line})", item.item_id))
            continue
        seen[item.item_id] = line
        if not item.path.is_file():
            problems.append(Problem(str(item.path), f"missing file: listed in {csv_path.name} line {line} but not on disk", item.item_id))
            continue
        items.append(item)
    listed = {item.path.resolve() for item in items} | {
        Path(problem.path).resolve() for problem in problems if problem.reason.startswith("missing file")
    }
    for path in audio_files(audio_dir):
        if path.resolve() not in listed:
            problems.append(Problem(str(path), f"extra file: on disk but not listed in {csv_path.name}", path.stem))
    classes = sorted({item.label for item in items if item.label is not None})
    return DatasetIndex("esc50", root, items, classes, problems)
