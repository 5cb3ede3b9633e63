"""MERGE music emotion datasets (Louro et al. 2024): the audio, lyrics and bimodal parts, Complete and Balanced.

Layout of each part, exactly as the MERGE release ships it (`PART` is audio, lyrics or bimodal, `VARIANT`
complete or balanced; a root may be the part's folder or a folder holding several parts' folders):

    merge_PART_VARIANT_metadata.csv     Song (bimodal: Audio_Song, Lyric_Song), Quadrant, Artist, Title, ...
    merge_PART_VARIANT_av_values.csv    Song (bimodal: Audio_Song, Lyric_Song), Arousal, Valence
    audio part:    Q1..Q4/{Song}.mp3            (or audio/Q1..Q4/)
    lyrics part:   Q1..Q4/{Song}.txt            (or lyrics/Q1..Q4/)
    bimodal part:  audio/Q1..Q4/{Audio_Song}.mp3 and lyrics/Q1..Q4/{Lyric_Song}.txt
    tvt_dataframes/tvt_70_15_15/tvt_70_15_15_{train,validate,test}_PART_VARIANT.csv   (column Song)

Each song becomes one `Item`: id = Song (bimodal: Audio_Song), label = quadrant, group = the normalised
artist where the metadata names one (else the song), targets arousal and valence, metadata `tvt`, `artist`,
`part` and (lyrics, bimodal) `lyrics_path`, `lyric_id`; a lyrics-only item's `path` is its lyrics file.
A song whose audio or lyrics is missing or unreadable, whose metadata row is missing or broken, or whose
file lies outside the root is listed as a `Problem` with its reason and left out.
"""

from __future__ import annotations

import math
from pathlib import Path

from sonolab.data.items import DatasetIndex, Item, Problem
from sonolab.data.merge_parts import (QUADRANTS, MergePart, audio_problem, choose_merge_part, read_rows, song_group,
                                      song_row_problem)
from sonolab.data.paths import resolve_inside
from sonolab.errors import DatasetError, SonolabError

TVT_PARTITIONS: tuple[str, ...] = ("train", "validate", "test")
DEFAULT_TVT_SCHEME = "tvt_70_15_15"
LYRICS_ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp1252")
__all__ = ["QUADRANTS", "load_merge", "merge_file_names", "read_lyrics"]


def merge_file_names(variant: str = "complete", part: str = "bimodal") -> tuple[str, str]:
    """The metadata and av-values file names of a MERGE part (`bimodal`, `audio`, `lyrics`) and variant."""
    return (f"merge_{part}_{variant}_metadata.csv", f"merge_{part}_{variant}_av_values.csv")


def read_lyrics(path: str | Path) -> str:
    """Read a lyrics file (UTF-8, or Windows-1252 as MERGE's older files use); raise DatasetError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: lyrics file not found (check the dataset root)")
    raw = path.read_bytes()
    for encoding in LYRICS_ENCODINGS:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes almost anything; kept for clarity
        raise DatasetError(f"{path}: lyrics are neither UTF-8 nor Windows-1252 text (re-save them as UTF-8)")
    if not text.strip():
        raise DatasetError(f"{path}: lyrics file is empty (add the lyrics or remove the song)")
    return text


def read_lyrics_of(items: list[Item]) -> tuple[dict[str, str], list[Problem]]:
    """Lyrics text per item id; unreadable lyrics come back as Problems."""
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    for item in items:
        path = item.metadata.get("lyrics_path")
        try:
            if not path:
                raise DatasetError(f"{item.path}: no lyrics file for this song in the dataset")
            texts[item.item_id] = read_lyrics(path)
        except SonolabError as error:
            problems.append(Problem(str(path or item.path), str(error), item.item_id))
    return texts, problems



def _parse_float(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _read_tvt(part: MergePart, scheme: str, problems: list[Problem]) -> dict[str, str]:
    """Song id -> partition from the official split files; songs in two partitions are problems."""
    folder = part.folder / "tvt_dataframes" / scheme
    assignment: dict[str, str] = {}
    conflicts: set[str] = set()
    for partition in TVT_PARTITIONS:
        path = folder / part.tvt_name(scheme, partition)
        if not path.is_file():
            problems.append(Problem(str(path), f"official split file missing: no '{partition}' partition (songs get no tvt)"))
            continue
        for row in read_rows(path, ("Song",), problems):
            song = row["Song"]
            if song in assignment and assignment[song] != partition:
                conflicts.add(song)
            assignment.setdefault(song, partition)
    for song in sorted(conflicts):
        problems.append(Problem(str(folder), "song listed in two official partitions (a leak); left out", song))
        assignment[song] = "conflict"
    return assignment


def _files_folder(part: MergePart, modality: str) -> Path:
    """Where a part keeps its `modality` files: `audio/` (`lyrics/`) when that folder exists, else the part's folder."""
    nested = part.folder / modality
    return nested if nested.is_dir() or part.part == "bimodal" else part.folder


def _id_columns(part: MergePart) -> tuple[str, ...]:
    return ("Audio_Song", "Lyric_Song") if part.part == "bimodal" else ("Song",)


def _lyrics_problem(path: Path) -> str | None:
    try:
        read_lyrics(path)
    except DatasetError as error:
        return "lyrics file missing" if not path.is_file() else str(error).split(": ", 1)[-1]
    return None


def load_merge(
    root: str | Path,
    variant: str | None = None,
    tvt_scheme: str = DEFAULT_TVT_SCHEME,
    part: str | None = None,
) -> DatasetIndex:
    """Index a MERGE part at `root` (`part` bimodal/audio/lyrics and `variant` complete/balanced; None =
    detect: bimodal, then audio, then lyrics, complete before balanced). Unusable songs are in `problems`."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: MERGE root not found (pass --root pointing at the MERGE folder, e.g. MERGE_Audio_Complete)")
    chosen = choose_merge_part(root, part, variant)
    id_columns = _id_columns(chosen)
    problems: list[Problem] = []
    metadata_path, av_path = chosen.folder / chosen.metadata_name, chosen.folder / chosen.av_name
    metadata = read_rows(metadata_path, id_columns + ("Quadrant",), problems)
    av_rows = read_rows(av_path, id_columns + ("Arousal", "Valence"), problems)
    tvt = _read_tvt(chosen, tvt_scheme, problems)
    audio_folder, lyrics_folder = _files_folder(chosen, "audio"), _files_folder(chosen, "lyrics")

    av_by_key: dict[tuple[str, ...], tuple[str, str]] = {}
    for row in av_rows:
        key = tuple(row[column] for column in id_columns)
        if key in av_by_key:
            problems.append(Problem(str(av_path), "duplicate arousal/valence row; the first is used", key[0]))
            continue
        av_by_key[key] = (row["Arousal"], row["Valence"])

    items: list[Item] = []
    seen: set[str] = set()
    metadata_keys: set[tuple[str, ...]] = set()
    where = str(metadata_path)
    for row in metadata:
        key = tuple(row[column] for column in id_columns)
        song_id, lyric_id = key[0], key[-1]
        quadrant = row["Quadrant"].upper()
        metadata_keys.add(key)
        if not all(key):
            problems.append(Problem(where, f"bad metadata row (line {row['_line']}): no {' or '.join(id_columns)}", song_id or None))
            continue
        problem = song_row_problem(row, song_id, seen, where, "metadata")
        if problem is not None:
            problems.append(problem)
            continue
        if key not in av_by_key:
            problems.append(Problem(str(av_path), "no arousal/valence row for this song", song_id))
            continue
        arousal, valence = (_parse_float(value) for value in av_by_key[key])
        if arousal is None or valence is None:
            problems.append(Problem(str(av_path), "arousal or valence is not a finite number", song_id))
            continue
        try:
            audio_path = resolve_inside(root, str((audio_folder / quadrant / f"{song_id}.mp3").relative_to(root)), where)
            lyrics_path = resolve_inside(root, str((lyrics_folder / quadrant / f"{lyric_id}.txt").relative_to(root)), where)
        except DatasetError:
            problems.append(Problem(where, "song id points outside the dataset root; refused", song_id))
            continue
        if chosen.part in ("audio", "bimodal"):
            reason = audio_problem(audio_path)
            if reason is not None:
                problems.append(Problem(str(audio_path), reason, song_id))
                continue
        if chosen.part in ("lyrics", "bimodal"):
            reason = _lyrics_problem(lyrics_path)
            if reason is not None:
                problems.append(Problem(str(lyrics_path), reason, song_id))
                continue
        partition = tvt.get(song_id) or tvt.get(f"{song_id}_{lyric_id}") or tvt.get(lyric_id)
        if partition == "conflict":
            continue
        fields: dict[str, object] = {"part": chosen.part, "artist": row.get("Artist", "")}
        if chosen.part != "audio":
            fields.update(lyrics_path=str(lyrics_path), lyric_id=lyric_id)
        if partition is not None:
            fields["tvt"] = partition
        items.append(Item(
            item_id=song_id,
            path=lyrics_path if chosen.part == "lyrics" else audio_path,
            label=quadrant,
            group=song_group(song_id, row.get("Artist")),
            targets={"arousal": arousal, "valence": valence},
            metadata=fields,
        ))

    # Songs in the av table or on disk that the metadata does not list are reported, not silently ignored.
    for key in sorted(set(av_by_key) - metadata_keys):
        problems.append(Problem(str(av_path), "absent from the metadata (has arousal/valence but no metadata row)", key[0]))
    known = {key[0] for key in metadata_keys | set(av_by_key)}
    folder, suffix = (lyrics_folder, "txt") if chosen.part == "lyrics" else (audio_folder, "mp3")
    for quadrant in QUADRANTS:
        for path in sorted((folder / quadrant).glob(f"*.{suffix}")):
            if path.stem not in known:
                problems.append(Problem(str(path), "absent from the metadata (file without a metadata row)", path.stem))

    if tvt and any("tvt" not in item.metadata for item in items):
        for item in items:
            if "tvt" not in item.metadata:
                problems.append(Problem(str(item.path), "song in no official partition (kept, without tvt)", item.item_id))
    return DatasetIndex(name=chosen.name, root=root, items=items, classes=list(QUADRANTS), problems=problems)
