"""MERGE bimodal (audio + lyrics) music emotion dataset.

Layout (exactly as the MERGE release ships it):

    merge_bimodal_complete_metadata.csv     Audio_Song, Lyric_Song, Quadrant, ...
    merge_bimodal_complete_av_values.csv    Audio_Song, Lyric_Song, Arousal, Valence, ...
    audio/Q1..Q4/{Audio_Song}.mp3
    lyrics/Q1..Q4/{Lyric_Song}.txt
    tvt_dataframes/tvt_70_15_15/tvt_70_15_15_{train,validate,test}_bimodal_complete.csv   (column Song)

The balanced variant uses the same layout with `balanced` in place of `complete`.
Each song becomes one `Item` (id = Audio_Song, label = quadrant, group = song, targets arousal and
valence, metadata lyrics_path, lyric_id and tvt). A song whose audio or lyrics is missing or
unreadable, whose metadata row is missing or broken, or whose file lies outside the root is listed
as a `Problem` with its reason and left out.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from sonolab.audio.io import audio_info_frames
from sonolab.data.items import DatasetIndex, Item, Problem
from sonolab.data.paths import resolve_inside
from sonolab.errors import AudioLoadError, DatasetError

QUADRANTS: tuple[str, ...] = ("Q1", "Q2", "Q3", "Q4")
TVT_PARTITIONS: tuple[str, ...] = ("train", "validate", "test")
DEFAULT_TVT_SCHEME = "tvt_70_15_15"
LYRICS_ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp1252")


def merge_file_names(variant: str = "complete") -> tuple[str, str]:
    """The metadata and av-values file names of a MERGE variant (`complete` or `balanced`)."""
    return (f"merge_bimodal_{variant}_metadata.csv", f"merge_bimodal_{variant}_av_values.csv")


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


def _detect_variant(root: Path) -> str:
    for variant in ("complete", "balanced"):
        if (root / merge_file_names(variant)[0]).is_file():
            return variant
    raise DatasetError(
        f"{root}: no merge_bimodal_complete_metadata.csv (or _balanced_) found; point --root at the "
        "MERGE_Bimodal_Complete (or _Balanced) folder"
    )


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (the MERGE root must hold it)")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as error:  # pandas raises several parser errors
        raise DatasetError(f"{path}: unreadable CSV ({error}); re-export it as comma-separated UTF-8") from error
    frame.columns = [str(column).strip() for column in frame.columns]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(frame.columns)})")
    return frame


def _read_tvt(root: Path, variant: str, scheme: str, problems: list[Problem]) -> dict[str, str]:
    """Song id -> partition from the official split files; songs in two partitions are problems."""
    folder = root / "tvt_dataframes" / scheme
    assignment: dict[str, str] = {}
    conflicts: set[str] = set()
    for partition in TVT_PARTITIONS:
        path = folder / f"{scheme}_{partition}_bimodal_{variant}.csv"
        if not path.is_file():
            problems.append(Problem(str(path), f"official split file missing: no '{partition}' partition (songs get no tvt)"))
            continue
        for song in _read_csv(path, ("Song",))["Song"]:
            song = song.strip()
            if song in assignment and assignment[song] != partition:
                conflicts.add(song)
            assignment.setdefault(song, partition)
    for song in sorted(conflicts):
        problems.append(Problem(str(folder), "song listed in two official partitions (a leak); left out", song))
        assignment[song] = "conflict"
    return assignment


def _parse_float(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _check_audio(path: Path) -> str | None:
    """None when the MP3 header decodes and holds samples, else the reason."""
    if not path.is_file():
        return "audio file missing"
    try:
        frames, _, _ = audio_info_frames(path)
    except AudioLoadError as error:
        return f"unreadable audio: {error.reason}"
    if frames <= 0:
        return "unreadable audio: 0 samples"
    return None


def load_merge(root: str | Path, variant: str | None = None, tvt_scheme: str = DEFAULT_TVT_SCHEME) -> DatasetIndex:
    """Index the MERGE bimodal dataset at `root`; songs that cannot be used are listed in `problems`."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: MERGE root not found (pass --root pointing at MERGE_Bimodal_Complete)")
    variant = variant or _detect_variant(root)
    metadata_name, av_name = merge_file_names(variant)
    metadata = _read_csv(root / metadata_name, ("Audio_Song", "Lyric_Song", "Quadrant"))
    av_values = _read_csv(root / av_name, ("Audio_Song", "Lyric_Song", "Arousal", "Valence"))
    problems: list[Problem] = []
    tvt = _read_tvt(root, variant, tvt_scheme, problems)

    av_by_key: dict[tuple[str, str], tuple[str, str]] = {}
    for row in av_values.itertuples(index=False):
        key = (row.Audio_Song.strip(), row.Lyric_Song.strip())
        if key in av_by_key:
            problems.append(Problem(str(root / av_name), "duplicate arousal/valence row; the first is used", key[0]))
            continue
        av_by_key[key] = (row.Arousal, row.Valence)

    items: list[Item] = []
    seen: set[str] = set()
    metadata_keys: set[tuple[str, str]] = set()
    for row in metadata.itertuples(index=False):
        audio_id, lyric_id, quadrant = row.Audio_Song.strip(), row.Lyric_Song.strip(), row.Quadrant.strip().upper()
        metadata_keys.add((audio_id, lyric_id))
        where = str(root / metadata_name)
        if not audio_id or not lyric_id:
            problems.append(Problem(where, "metadata row without Audio_Song or Lyric_Song", audio_id or None))
            continue
        if audio_id in seen:
            problems.append(Problem(where, "duplicate song in the metadata; the first row is used", audio_id))
            continue
        seen.add(audio_id)
        if quadrant not in QUADRANTS:
            problems.append(Problem(where, f"quadrant {row.Quadrant!r} is not one of {', '.join(QUADRANTS)}", audio_id))
            continue
        if (audio_id, lyric_id) not in av_by_key:
            problems.append(Problem(str(root / av_name), "no arousal/valence row for this song", audio_id))
            continue
        arousal, valence = (_parse_float(value) for value in av_by_key[(audio_id, lyric_id)])
        if arousal is None or valence is None:
            problems.append(Problem(str(root / av_name), "arousal or valence is not a finite number", audio_id))
            continue
        try:
            audio_path = resolve_inside(root, f"audio/{quadrant}/{audio_id}.mp3", where)
            lyrics_path = resolve_inside(root, f"lyrics/{quadrant}/{lyric_id}.txt", where)
        except DatasetError:
            problems.append(Problem(where, "song id points outside the dataset root; refused", audio_id))
            continue
        reason = _check_audio(audio_path)
        if reason is not None:
            problems.append(Problem(str(audio_path), reason, audio_id))
            continue
        try:
            read_lyrics(lyrics_path)
        except DatasetError as error:
            reason = "lyrics file missing" if not lyrics_path.is_file() else str(error).split(": ", 1)[-1]
            problems.append(Problem(str(lyrics_path), reason, audio_id))
            continue
        partition = tvt.get(audio_id) or tvt.get(f"{audio_id}_{lyric_id}") or tvt.get(lyric_id)
        if partition == "conflict":
            continue
        metadata_fields = {"lyrics_path": str(lyrics_path), "lyric_id": lyric_id}
        if partition is not None:
            metadata_fields["tvt"] = partition
        items.append(
            Item(
                item_id=audio_id,
                path=audio_path,
                label=quadrant,
                group=audio_id,
                targets={"arousal": arousal, "valence": valence},
                metadata=metadata_fields,
            )
        )

    # Songs on disk or in the av table that the metadata does not list are reported, not silently ignored.
    for audio_id, lyric_id in sorted(set(av_by_key) - metadata_keys):
        problems.append(Problem(str(root / av_name), "absent from the metadata (has arousal/valence but no metadata row)", audio_id))
    known_audio = {audio_id for audio_id, _ in metadata_keys} | {audio_id for audio_id, _ in av_by_key}
    for quadrant in QUADRANTS:
        for path in sorted((root / "audio" / quadrant).glob("*.mp3")):
            if path.stem not in known_audio:
                problems.append(Problem(str(path), "absent from the metadata (audio file without a metadata row)", path.stem))

    if tvt and any("tvt" not in item.metadata for item in items):
        for item in items:
            if "tvt" not in item.metadata:
                problems.append(Problem(str(item.path), "song in no official partition (kept, without tvt)", item.item_id))
    return DatasetIndex(name="merge", root=root, items=items, classes=list(QUADRANTS), problems=problems)
