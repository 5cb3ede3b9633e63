"""4Q audio emotion dataset (Panda, Malheiro & Paiva, IEEE TAFFC 2018): 900 clips of 30 s, 225 per quadrant.

Layout, exactly as released (CRLF line endings, possibly a UTF-8 BOM):

    Q1..Q4/{Song}.mp3
    panda_dataset_taffc_annotations.csv   Song, Quadrant
    panda_dataset_taffc_metadata.csv      Song, Artist, Title, Quadrant, moods, genres, ...

Each clip becomes one `Item` (id = Song, label = the annotated quadrant, group = the normalised artist of
the metadata, else the song; metadata artist, title). 4Q has quadrant labels only: no valence/arousal
targets, so `require_targets(index)` refuses a regression request with a clear message. A broken CSV row,
a missing or unreadable clip, a clip in another quadrant's folder than its annotation, and a clip on disk
without an annotation are listed as problems with their reason.
"""

from __future__ import annotations

from pathlib import Path

from sonolab.data.items import DatasetIndex, Item, Problem
from sonolab.data.merge_parts import (QUADRANTS, audio_problem, read_rows, require_targets, song_group, song_row_problem,
                                      targets_available)
from sonolab.data.paths import resolve_inside
from sonolab.errors import DatasetError

NAME = "4q"
ANNOTATIONS_FILE = "panda_dataset_taffc_annotations.csv"
METADATA_FILE = "panda_dataset_taffc_metadata.csv"
__all__ = ["NAME", "load_fourq", "require_targets", "targets_available"]


def _find_clip(root: Path, song: str, quadrant: str, where: str) -> tuple[Path | None, str | None]:
    """(path, None) for the clip in its quadrant's folder; (None, reason) when it is missing or misplaced."""
    path = resolve_inside(root, f"{quadrant}/{song}.mp3", where)
    if path.is_file():
        return path, None
    elsewhere = [q for q in QUADRANTS if q != quadrant and (root / q / f"{song}.mp3").is_file()]
    if elsewhere:
        return None, f"audio file in {elsewhere[0]}/ but annotated {quadrant} (fix: move it, or correct the annotation)"
    return None, "audio file missing"


def load_fourq(root: str | Path) -> DatasetIndex:
    """Index the 4Q dataset at `root`; every clip that cannot be used is listed in `problems`."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: 4Q root not found (fix: pass --root pointing at the folder holding Q1..Q4/ and the two CSVs)")
    annotations_path = root / ANNOTATIONS_FILE
    if not annotations_path.is_file():
        raise DatasetError(f"{annotations_path}: file not found (fix: point --root at the 4Q folder holding {ANNOTATIONS_FILE} and Q1..Q4/)")
    problems: list[Problem] = []
    annotations = read_rows(annotations_path, ("Song", "Quadrant"), problems)
    metadata_path = root / METADATA_FILE
    artists: dict[str, dict[str, str]] = {}
    if metadata_path.is_file():
        for row in read_rows(metadata_path, ("Song",), problems):
            artists.setdefault(row["Song"], row)
    else:
        problems.append(Problem(str(metadata_path), "metadata file missing: songs are grouped by song, not by artist"))

    items: list[Item] = []
    seen: set[str] = set()
    where = str(annotations_path)
    for row in annotations:
        song, quadrant = row["Song"], row["Quadrant"].upper()
        if not song:
            problems.append(Problem(where, f"bad metadata row (line {row['_line']}): no Song"))
            continue
        problem = song_row_problem(row, song, seen, where, "annotations")
        if problem is not None:
            problems.append(problem)
            continue
        try:
            path, reason = _find_clip(root, song, quadrant, where)
        except DatasetError:
            problems.append(Problem(where, "song id points outside the dataset root; refused", song))
            continue
        if path is None:
            problems.append(Problem(str(root / quadrant / f"{song}.mp3"), reason or "audio file missing", song))
            continue
        reason = audio_problem(path)
        if reason is not None:
            problems.append(Problem(str(path), reason, song))
            continue
        meta = artists.get(song)
        if meta is None and artists:
            problems.append(Problem(str(metadata_path), "no metadata row for this song (kept, grouped by song)", song))
        meta = meta or {}
        if meta.get("Quadrant") and meta["Quadrant"].upper() != quadrant:
            problems.append(Problem(str(metadata_path), f"metadata quadrant {meta['Quadrant']!r} differs from the annotation {quadrant!r} (kept, annotation used)", song))
        items.append(Item(item_id=song, path=path, label=quadrant, group=song_group(song, meta.get("Artist")),
                          metadata={"artist": meta.get("Artist", ""), "title": meta.get("Title", "")}))

    for quadrant in QUADRANTS:
        for path in sorted((root / quadrant).glob("*.mp3")):
            if path.stem not in seen:
                problems.append(Problem(str(path), "absent from the annotations (audio file without an annotation row)", path.stem))
    if not any((root / quadrant).is_dir() for quadrant in QUADRANTS):
        problems.append(Problem(str(root), "no Q1..Q4 folders (fix: point --root at the folder holding Q1/ .. Q4/)"))
    return DatasetIndex(name=NAME, root=root, items=items, classes=list(QUADRANTS), problems=problems)
