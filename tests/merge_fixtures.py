"""Generated MERGE-shaped trees (bimodal, audio, lyrics parts) and 4Q trees for tests, and a tiny offline BERT.

Each modality carries only part of the emotion, so a bimodal model must beat both single ones:
- audio: loudness encodes arousal (-34 dBFS for 0 up to -4 dBFS for 1); pitch is random (uninformative);
- lyrics: the share of positive vs negative words encodes valence; the filler words carry nothing.
Arousal and valence lie in [0, 1] with the midpoint 0.5 and a margin around it, so the quadrant
(Q1 +A+V, Q2 +A-V, Q3 -A-V, Q4 -A+V) follows from both signs.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

POSITIVE_WORDS = ("happy", "joy", "love", "sunshine", "smile", "bright", "dance", "gold")
NEGATIVE_WORDS = ("sad", "tears", "dark", "pain", "lonely", "cold", "grief", "broken")
FILLER_WORDS = ("the", "we", "walk", "road", "night", "day", "sing", "home", "time", "river", "city", "again")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MIDPOINT = 0.5
SAMPLE_RATE_HZ = 16000


def quadrant(arousal: float, valence: float) -> str:
    if arousal >= MIDPOINT:
        return "Q1" if valence >= MIDPOINT else "Q2"
    return "Q4" if valence >= MIDPOINT else "Q3"


@dataclass
class MergeTree:
    root: Path
    songs: list[dict]  # audio_id, lyric_id, quadrant, arousal, valence, tvt, artist


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _lyrics(valence: float, rng: np.random.Generator, words: int = 32) -> str:
    positive_share = float(np.clip(valence, 0.0, 1.0))
    tokens = []
    for _ in range(words):
        if rng.random() < 0.25:
            tokens.append(str(rng.choice(FILLER_WORDS)))
        elif rng.random() < positive_share:
            tokens.append(str(rng.choice(POSITIVE_WORDS)))
        else:
            tokens.append(str(rng.choice(NEGATIVE_WORDS)))
    lines = [" ".join(tokens[i : i + 8]) for i in range(0, len(tokens), 8)]
    return "\n".join(lines) + "\n"


def _audio(arousal: float, rng: np.random.Generator, duration_s: float, frequency_hz: float | None = None) -> np.ndarray:
    samples = int(duration_s * SAMPLE_RATE_HZ)
    if frequency_hz is None:
        frequency_hz = float(rng.uniform(200.0, 1600.0))  # pitch: random, carries nothing
    level_db = -34.0 + 30.0 * arousal
    # a few notes around the song's pitch (phase-continuous): steady tones would all be pitch-shifted copies of
    # one another, and the training leak audit rightly flags those
    notes = frequency_hz * 2 ** (rng.uniform(-7, 7, size=int(rng.integers(3, 6))) / 12)
    steps = notes[np.minimum((np.arange(samples) * len(notes)) // samples, len(notes) - 1)]
    phase = 2 * np.pi * np.cumsum(steps) / SAMPLE_RATE_HZ
    tone = np.sin(phase) + 0.5 * np.sin(2 * phase)
    tone += 0.05 * rng.standard_normal(samples)
    tone /= np.max(np.abs(tone))
    return (10 ** (level_db / 20.0) * tone).astype(np.float32)


def _artist(index: int, songs_per_artist: int) -> str:
    """Artist of song `index`; every other song spells it with other case and spacing (normalised away)."""
    number = index // songs_per_artist
    return f"  the  ARTIST {number:03d} " if index % 2 else f"The Artist {number:03d}"


def make_merge_tree(
    root: Path,
    num_songs: int = 96,
    seed: int = 0,
    duration_s: float = 1.0,
    partitions: tuple[float, float] = (0.6, 0.2),
    broken: bool = False,
    part: str = "bimodal",
    variant: str = "complete",
    songs_per_artist: int = 1,
    broken_row: bool = False,
) -> MergeTree:
    """Write a MERGE_{Part}_{Variant}-shaped tree under `root`. Quadrants are balanced.

    `part`: bimodal (audio/Q*/A*.mp3 + lyrics/Q*/L*.txt, Audio_Song/Lyric_Song columns), audio (Q*/A*.mp3,
    Song column) or lyrics (Q*/L*.txt, Song column). Songs `k*songs_per_artist .. ` share an artist, spelled
    with varying case and spaces. With `broken=True` three more songs are added: one whose lyrics (audio
    part: audio) file is missing, one whose MP3 (lyrics part: text) is unusable (garbage bytes / empty), and
    one whose files exist but which no metadata row lists. `broken_row=True` appends a metadata row with
    too many fields (a stray comma), which must be listed as a problem.
    """
    rng = np.random.default_rng(seed)
    songs: list[dict] = []
    for index in range(num_songs):
        high_arousal = index % 2 == 0
        high_valence = (index // 2) % 2 == 0
        arousal = float(rng.uniform(0.62, 0.95) if high_arousal else rng.uniform(0.05, 0.38))
        valence = float(rng.uniform(0.62, 0.95) if high_valence else rng.uniform(0.05, 0.38))
        songs.append({"audio_id": f"A{index:03d}", "lyric_id": f"L{index:03d}", "arousal": arousal, "valence": valence,
                      "quadrant": quadrant(arousal, valence), "artist": _artist(index, songs_per_artist)})
    order = rng.permutation(num_songs)
    train_end = int(partitions[0] * num_songs)
    validate_end = train_end + int(partitions[1] * num_songs)
    for rank, index in enumerate(order):
        songs[index]["tvt"] = "train" if rank < train_end else "validate" if rank < validate_end else "test"

    nested = part == "bimodal"
    audio_dir = root / "audio" if nested else root
    lyrics_dir = root / "lyrics" if nested else root
    has_audio, has_lyrics = part in ("bimodal", "audio"), part in ("bimodal", "lyrics")

    def write_audio(song: dict, arousal: float) -> None:
        path = audio_dir / song["quadrant"] / f"{song['audio_id']}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), _audio(arousal, rng, duration_s), SAMPLE_RATE_HZ, format="MP3")

    def write_lyrics(song: dict, text: str | None = None) -> None:
        path = lyrics_dir / song["quadrant"] / f"{song['lyric_id']}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_lyrics(song["valence"], rng) if text is None else text, encoding="utf-8")

    for song in songs:
        if has_audio:
            write_audio(song, song["arousal"])
        if has_lyrics:
            write_lyrics(song)

    listed = list(songs)
    if broken:
        extra = [
            {"audio_id": "AX01", "lyric_id": "LX01", "arousal": 0.8, "valence": 0.8, "quadrant": "Q1", "tvt": "train", "artist": "X1"},
            {"audio_id": "AX02", "lyric_id": "LX02", "arousal": 0.2, "valence": 0.2, "quadrant": "Q3", "tvt": "train", "artist": "X2"},
            {"audio_id": "AX03", "lyric_id": "LX03", "arousal": 0.8, "valence": 0.2, "quadrant": "Q2", "tvt": "train", "artist": "X3"},
        ]
        for song in extra:
            (audio_dir / song["quadrant"]).mkdir(parents=True, exist_ok=True)
            (lyrics_dir / song["quadrant"]).mkdir(parents=True, exist_ok=True)
        if part == "bimodal":
            write_audio(extra[0], 0.8)  # AX01: lyrics missing
            (audio_dir / "Q3" / "AX02.mp3").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())  # unreadable MP3
            write_lyrics(extra[1])
            write_audio(extra[2], 0.8)  # AX03: files present, absent from the metadata
            write_lyrics(extra[2])
        elif part == "audio":
            (audio_dir / "Q3" / "AX02.mp3").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())  # AX01: audio missing
            write_audio(extra[2], 0.8)
        else:
            write_lyrics(extra[1], text="  \n")  # LX01: lyrics missing; LX02: empty lyrics
            write_lyrics(extra[2])
        listed += extra[:2]
        songs_with_av = listed + extra[2:]
    else:
        songs_with_av = listed

    def song_id(song: dict) -> str:
        return song["lyric_id"] if part == "lyrics" else song["audio_id"]

    stem = f"merge_{part}_{variant}"
    if part == "bimodal":
        metadata_header = ["Audio_Song", "Lyric_Song", "Quadrant", "Artist", "Title"]
        metadata_rows = [[s["audio_id"], s["lyric_id"], s["quadrant"], s["artist"], f"title {s['audio_id']}"] for s in listed]
        av_header, av_rows = ["Audio_Song", "Lyric_Song", "Arousal", "Valence"], [
            [s["audio_id"], s["lyric_id"], f"{s['arousal']:.4f}", f"{s['valence']:.4f}"] for s in songs_with_av]
    else:
        metadata_header = ["Song", "Quadrant", "Artist", "Title"]
        metadata_rows = [[song_id(s), s["quadrant"], s["artist"], f"title {song_id(s)}"] for s in listed]
        av_header, av_rows = ["Song", "Arousal", "Valence"], [
            [song_id(s), f"{s['arousal']:.4f}", f"{s['valence']:.4f}"] for s in songs_with_av]
    if broken_row:
        # an unquoted comma in a field: one field more than the header
        metadata_rows.append(["ABROKEN", "LBROKEN", "Q1", "Some", " Artist", "title"][-(len(metadata_header) + 1):])
    _write_csv(root / f"{stem}_metadata.csv", metadata_header, metadata_rows)
    _write_csv(root / f"{stem}_av_values.csv", av_header, av_rows)
    scheme = root / "tvt_dataframes" / "tvt_70_15_15"
    for partition in ("train", "validate", "test"):
        _write_csv(scheme / f"tvt_70_15_15_{partition}_{part}_{variant}.csv", ["Song", "Quadrant"],
                   [[song_id(s), s["quadrant"]] for s in songs_with_av if s["tvt"] == partition])
    return MergeTree(root, songs)


@dataclass
class FourQTree:
    root: Path
    songs: list[dict]  # song, quadrant, artist


def make_fourq_tree(
    root: Path,
    num_songs: int = 24,
    seed: int = 0,
    duration_s: float = 0.5,
    songs_per_artist: int = 2,
    broken: bool = False,
) -> FourQTree:
    """Write a 4Q-shaped tree (Panda et al. 2018): Q1..Q4/{Song}.mp3 and the two CSVs with CRLF line
    endings and a UTF-8 BOM, as released. Songs `k*songs_per_artist ..` share an artist (varying case/spaces).

    With `broken=True`: one annotated clip is missing, one clip is garbage bytes, one clip lies on disk with no
    annotation, and the annotations get a broken row (too many fields).
    """
    rng = np.random.default_rng(seed)
    songs = []
    for index in range(num_songs):
        arousal = 0.8 if index % 2 == 0 else 0.2
        valence = 0.8 if (index // 2) % 2 == 0 else 0.2
        songs.append({"song": f"MT{index:010d}", "quadrant": quadrant(arousal, valence), "arousal": arousal,
                      "artist": _artist(index, songs_per_artist), "title": f"Title {index}"})
    for song in songs:
        path = root / song["quadrant"] / f"{song['song']}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        # a semitone apart per song: no two clips are near-identical for the audit
        frequency_hz = 150.0 * 2.0 ** (len(list(root.glob("Q*/*.mp3"))) / 12.0)
        sf.write(str(path), _audio(song["arousal"], rng, duration_s, frequency_hz), SAMPLE_RATE_HZ, format="MP3")
    annotations = [[s["song"], s["quadrant"]] for s in songs]
    metadata = [[s["song"], s["artist"], s["title"], s["quadrant"], "Happy; Fun", "Pop/Rock"] for s in songs]
    if broken:
        annotations.append(["MTMISSING01", "Q2"])  # no clip on disk
        metadata.append(["MTMISSING01", "Nobody", "Gone", "Q2", "Sad", "Blues"])
        (root / "Q3" / "MTGARBAGE01.mp3").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        annotations.append(["MTGARBAGE01", "Q3"])
        sf.write(str(root / "Q4" / "MTUNLISTED1.mp3"), _audio(0.2, rng, duration_s), SAMPLE_RATE_HZ, format="MP3")
        annotations.append(["MTBROKEN001", "Q1", "extra", "fields"])

    def write(path: Path, header: list[str], rows: list[list]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
        path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))

    write(root / "panda_dataset_taffc_annotations.csv", ["Song", "Quadrant"], annotations)
    write(root / "panda_dataset_taffc_metadata.csv", ["Song", "Artist", "Title", "Quadrant", "Moods", "Genres"], metadata)
    return FourQTree(root, songs)


def make_tiny_bert(folder: Path, hidden_size: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A randomly initialised BERT (hidden 32, 2 layers) and a BertTokenizerFast over the generated vocabulary,
    saved with save_pretrained() so it loads like any local model folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocabulary = list(SPECIAL_TOKENS) + sorted(set(POSITIVE_WORDS + NEGATIVE_WORDS + FILLER_WORDS))
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)  # transformers 5 API
    if len(tokenizer.get_vocab()) != len(vocabulary):  # transformers 4 names the argument vocab_file
        tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    assert len(tokenizer.get_vocab()) == len(vocabulary), "tiny tokenizer did not load the generated vocabulary"
    tokenizer.save_pretrained(str(folder))
    config = BertConfig(vocab_size=len(vocabulary), hidden_size=hidden_size, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden_size, max_position_embeddings=128)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(folder))
    return folder
