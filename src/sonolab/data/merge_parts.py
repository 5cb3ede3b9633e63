"""Shared pieces of the music-emotion loaders (MERGE audio / lyrics / bimodal parts, 4Q).

- the MERGE parts and variants, their file names, and which of them a root holds;
- a lenient CSV reader that lists broken rows (with their line number) instead of crashing or dropping them;
- artist normalisation (case and whitespace) for grouping songs by artist;
- which regression targets an index carries (`targets_available`, `require_targets`);
- songs-per-artist statistics for `sonolab verify`.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sonolab.audio.io import audio_info_frames
from sonolab.data.items import DatasetIndex, Problem
from sonolab.errors import AudioLoadError, ConfigError, DatasetError

QUADRANTS: tuple[str, ...] = ("Q1", "Q2", "Q3", "Q4")
PARTS: tuple[str, ...] = ("bimodal", "audio", "lyrics")  # auto-detection prefers them in this order
VARIANTS: tuple[str, ...] = ("complete", "balanced")  # ... and complete before balanced
TEXT_ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp1252")  # MERGE and 4Q ship UTF-8 (maybe with BOM) or Windows-1252
EMOTION_TARGETS: tuple[str, ...] = ("arousal", "valence")
# Column names the loaders read; a header spelling them in another case ("song", "ARTIST") is accepted.
KNOWN_COLUMNS: tuple[str, ...] = ("Song", "Audio_Song", "Lyric_Song", "Quadrant", "Artist", "Title", "Arousal", "Valence")


@dataclass(frozen=True)
class MergePart:
    """One MERGE dataset (part x variant) found in `folder`."""

    part: str  # bimodal | audio | lyrics
    variant: str  # complete | balanced
    folder: Path

    @property
    def name(self) -> str:
        """The dataset name that loads exactly this part again (e.g. `merge_audio_complete`)."""
        return f"merge_{self.part}_{self.variant}"

    @property
    def metadata_name(self) -> str:
        return f"merge_{self.part}_{self.variant}_metadata.csv"

    @property
    def av_name(self) -> str:
        return f"merge_{self.part}_{self.variant}_av_values.csv"

    def tvt_name(self, scheme: str, partition: str) -> str:
        return f"{scheme}_{partition}_{self.part}_{self.variant}.csv"


def find_merge_parts(root: Path) -> list[MergePart]:
    """Every MERGE part whose metadata CSV lies in `root` or in one of its direct sub-folders
    (a folder holding MERGE_Audio_Complete/, MERGE_Bimodal_Complete/, ... as released), in preference order."""
    folders = [root] + sorted(path for path in root.iterdir() if path.is_dir()) if root.is_dir() else []
    found: list[MergePart] = []
    for part in PARTS:
        for variant in VARIANTS:
            for folder in folders:
                if (folder / f"merge_{part}_{variant}_metadata.csv").is_file():
                    found.append(MergePart(part, variant, folder))
                    break
    return found


def choose_merge_part(root: Path, part: str | None = None, variant: str | None = None) -> MergePart:
    """The MERGE part to load from `root`: the one forced by `part`/`variant`, else bimodal, audio, lyrics
    (complete before balanced). One clear error when the root holds none that fits."""
    if part is not None and part not in PARTS:
        raise DatasetError(f"unknown MERGE part {part!r} (fix: use one of {', '.join(PARTS)})")
    if variant is not None and variant not in VARIANTS:
        raise DatasetError(f"unknown MERGE variant {variant!r} (fix: use complete or balanced)")
    found = find_merge_parts(root)
    fitting = [p for p in found if (part is None or p.part == part) and (variant is None or p.variant == variant)]
    if fitting:
        return fitting[0]
    wanted = f"merge_{part or '{bimodal,audio,lyrics}'}_{variant or '{complete,balanced}'}_metadata.csv"
    held = ", ".join(p.metadata_name for p in found) or "no MERGE metadata CSV"
    raise DatasetError(
        f"{root}: no {wanted} here or in a direct sub-folder (found: {held}); "
        "fix: point --root at the MERGE folder (e.g. MERGE_Audio_Complete), or pick a part the root holds "
        "(dataset merge_audio, merge_lyrics or merge_bimodal, optionally with _complete or _balanced)"
    )


def decode_text(path: Path) -> str:
    """The file's text as UTF-8 (BOM dropped) or Windows-1252; a DatasetError if it cannot be read."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as error:
        raise DatasetError(f"{path}: file not found (the dataset root must hold it)") from error
    except OSError as error:
        raise DatasetError(f"{path}: cannot read ({error.strerror or error})") from error
    for encoding in TEXT_ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DatasetError(f"{path}: neither UTF-8 nor Windows-1252 text (fix: re-save it as UTF-8)")  # pragma: no cover


def _delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in (",", ";", "\t")}
    return max(counts, key=lambda delimiter: counts[delimiter]) if any(counts.values()) else ","


def read_rows(path: Path, required: tuple[str, ...], problems: list[Problem]) -> list[dict[str, str]]:
    """Rows of a metadata CSV as dicts (stripped header and values), CRLF/LF, BOM, `,`/`;`/tab separated.

    Hand-written over the csv module rather than pandas because a broken row must become a listed problem
    with its line number (pandas' on_bad_lines gives neither the line nor a count). A missing file or a
    missing required column is one DatasetError naming the file.
    """
    text = decode_text(path)
    first_line = text.splitlines()[0] if text.strip() else ""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        canonical = {name.casefold(): name for name in KNOWN_COLUMNS}
        header = [canonical.get(column.strip().casefold(), column.strip()) for column in next(reader)]
    except StopIteration:
        raise DatasetError(f"{path}: empty CSV (fix: restore the file from the dataset release)") from None
    missing = [column for column in required if column not in header]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(header)}); fix: restore the file from the dataset release")
    rows: list[dict[str, str]] = []
    try:
        for fields in reader:
            if not fields or all(not field.strip() for field in fields):
                continue  # blank line (e.g. a trailing CRLF)
            line = reader.line_num
            if len(fields) != len(header):
                preview = ",".join(fields)[:60]
                problems.append(Problem(str(path), f"bad metadata row (line {line}): {len(fields)} fields where the header has {len(header)} ({preview!r}); row left out",
                                        fields[0].strip() or None))
                continue
            row = {column: value.strip() for column, value in zip(header, fields)}
            row["_line"] = str(line)
            rows.append(row)
    except csv.Error as error:  # e.g. an unterminated quote: the rest of the file cannot be trusted
        problems.append(Problem(str(path), f"bad metadata row (line {reader.line_num}): {error}; the rest of the file was not read"))
    return rows


def song_row_problem(row: dict[str, str], song_id: str, seen: set[str], where: str, table: str) -> Problem | None:
    """Why a song's metadata row cannot be used (a repeated song, a quadrant outside Q1-Q4), else None; the song is
    added to `seen` when it is new. The first row of a song wins; later ones are listed, never silently dropped."""
    if song_id in seen:
        return Problem(where, f"duplicate song in the {table}; the first row is used", song_id)
    seen.add(song_id)
    if row["Quadrant"].upper() not in QUADRANTS:
        return Problem(where, f"bad metadata row (line {row['_line']}): quadrant {row['Quadrant']!r} is not one of "
                              f"{', '.join(QUADRANTS)}", song_id)
    return None


def audio_problem(path: Path) -> str | None:
    """None when the audio file's header decodes and holds samples, else the reason (missing, unreadable)."""
    if not path.is_file():
        return "audio file missing"
    try:
        frames, _, _ = audio_info_frames(path)
    except AudioLoadError as error:
        return error.reason if error.reason.startswith("unreadable audio") else f"unreadable audio: {error.reason}"
    return None if frames > 0 else "unreadable audio: 0 samples"


def normalise_artist(name: str | None) -> str:
    """Artist name with case and whitespace normalised ('  The  Beatles ' -> 'the beatles'); '' if none."""
    return re.sub(r"\s+", " ", str(name or "")).strip().casefold()


def song_group(song_id: str, artist: str | None) -> str:
    """The unit a split keeps whole: the normalised artist where the metadata names one, else the song."""
    normalised = normalise_artist(artist)
    return f"artist:{normalised}" if normalised else f"song:{song_id}"


def targets_available(index: DatasetIndex) -> set[str]:
    """The regression targets every item of `index` carries (e.g. {'arousal', 'valence'}; empty for 4Q)."""
    if not index.items:
        return set()
    common = set(index.items[0].targets)
    for item in index.items[1:]:
        common &= set(item.targets)
    return common


def require_targets(index: DatasetIndex, wanted: tuple[str, ...] | list[str] = EMOTION_TARGETS) -> None:
    """Raise a ConfigError naming the dataset when a task asks for targets the data does not have."""
    missing = [name for name in wanted if name not in targets_available(index)]
    if missing:
        has = ", ".join(sorted(targets_available(index))) or "none"
        raise ConfigError(
            f"{index.root}: dataset {index.name} has no {'/'.join(missing)} annotations (targets it has: {has}; labels: "
            f"{', '.join(index.classes)}); fix: train quadrant classification only (drop the valence/arousal regression)"
        )


def artist_statistics(index: DatasetIndex) -> dict[str, int] | None:
    """Songs per artist for `verify`: artists, max songs per artist, artists with more than one song, songs
    without an artist. None when no item is grouped by artist."""
    artists = Counter(item.group for item in index.items if item.group.startswith("artist:"))
    if not artists:
        return None
    return {
        "artists": len(artists),
        "max_songs_per_artist": max(artists.values()),
        "artists_with_several_songs": sum(1 for count in artists.values() if count > 1),
        "songs_without_artist": sum(1 for item in index.items if not item.group.startswith("artist:")),
    }
