"""A generated MERGE-shaped tree for tests, and a tiny offline BERT with a generated vocabulary.

Each modality carries only part of the emotion, so a bimodal model must beat both single ones:
- audio: loudness encodes arousal (-34 dBFS for 0 up to -4 dBFS for 1); pitch is random (uninformative);
- lyrics: the share of positive vs negative words encodes valence; the filler words carry nothing.
Arousal and valence lie in [0, 1] with the midpoint 0.5 and a margin around it, so the quadrant
(Q1 +A+V, Q2 +A-V, Q3 -A-V, Q4 -A+V) follows from both signs.
"""

from __future__ import annotations

import csv
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
    songs: list[dict]  # audio_id, lyric_id, quadrant, arousal, valence, tvt


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


def _audio(arousal: float, rng: np.random.Generator, duration_s: float) -> np.ndarray:
    samples = int(duration_s * SAMPLE_RATE_HZ)
    time_s = np.arange(samples) / SAMPLE_RATE_HZ
    frequency_hz = float(rng.uniform(200.0, 1600.0))  # pitch: random, carries nothing
    level_db = -34.0 + 30.0 * arousal
    tone = np.sin(2 * np.pi * frequency_hz * time_s) + 0.5 * np.sin(2 * np.pi * 2 * frequency_hz * time_s)
    tone += 0.05 * rng.standard_normal(samples)
    tone /= np.max(np.abs(tone))
    return (10 ** (level_db / 20.0) * tone).astype(np.float32)


def make_merge_tree(
    root: Path,
    num_songs: int = 96,
    seed: int = 0,
    duration_s: float = 1.0,
    partitions: tuple[float, float] = (0.6, 0.2),
    broken: bool = False,
) -> MergeTree:
    """Write a MERGE_Bimodal_Complete-shaped tree under `root`. Quadrants are balanced.

    With `broken=True` three more songs are added: one whose lyrics file is missing, one whose MP3 is
    garbage bytes, and one whose MP3 and lyrics exist but which no metadata row lists.
    """
    rng = np.random.default_rng(seed)
    songs: list[dict] = []
    for index in range(num_songs):
        high_arousal = index % 2 == 0
        high_valence = (index // 2) % 2 == 0
        arousal = float(rng.uniform(0.62, 0.95) if high_arousal else rng.uniform(0.05, 0.38))
        valence = float(rng.uniform(0.62, 0.95) if high_valence else rng.uniform(0.05, 0.38))
        songs.append({"audio_id": f"A{index:03d}", "lyric_id": f"L{index:03d}", "arousal": arousal,
                      "valence": valence, "quadrant": quadrant(arousal, valence)})
    order = rng.permutation(num_songs)
    train_end = int(partitions[0] * num_songs)
    validate_end = train_end + int(partitions[1] * num_songs)
    for rank, index in enumerate(order):
        songs[index]["tvt"] = "train" if rank < train_end else "validate" if rank < validate_end else "test"

    for song in songs:
        audio = _audio(song["arousal"], rng, duration_s)
        audio_path = root / "audio" / song["quadrant"] / f"{song['audio_id']}.mp3"
        audio_path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(audio_path), audio, SAMPLE_RATE_HZ, format="MP3")
        lyrics_path = root / "lyrics" / song["quadrant"] / f"{song['lyric_id']}.txt"
        lyrics_path.parent.mkdir(parents=True, exist_ok=True)
        lyrics_path.write_text(_lyrics(song["valence"], rng), encoding="utf-8")

    listed = list(songs)
    if broken:
        extra = [
            {"audio_id": "AX01", "lyric_id": "LX01", "arousal": 0.8, "valence": 0.8, "quadrant": "Q1", "tvt": "train"},
            {"audio_id": "AX02", "lyric_id": "LX02", "arousal": 0.2, "valence": 0.2, "quadrant": "Q3", "tvt": "train"},
            {"audio_id": "AX03", "lyric_id": "LX03", "arousal": 0.8, "valence": 0.2, "quadrant": "Q2", "tvt": "train"},
        ]
        for song in extra:
            folder = song["quadrant"]
            (root / "audio" / folder).mkdir(parents=True, exist_ok=True)
            (root / "lyrics" / folder).mkdir(parents=True, exist_ok=True)
        # AX01: lyrics missing
        sf.write(str(root / "audio" / "Q1" / "AX01.mp3"), _audio(0.8, rng, duration_s), SAMPLE_RATE_HZ, format="MP3")
        # AX02: unreadable MP3 (random bytes)
        (root / "audio" / "Q3" / "AX02.mp3").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        (root / "lyrics" / "Q3" / "LX02.txt").write_text(_lyrics(0.2, rng), encoding="utf-8")
        # AX03: files present, absent from the metadata
        sf.write(str(root / "audio" / "Q2" / "AX03.mp3"), _audio(0.8, rng, duration_s), SAMPLE_RATE_HZ, format="MP3")
        (root / "lyrics" / "Q2" / "LX03.txt").write_text(_lyrics(0.2, rng), encoding="utf-8")
        listed += extra[:2]
        songs_with_av = listed + extra[2:]
    else:
        songs_with_av = listed

    _write_csv(root / "merge_bimodal_complete_metadata.csv", ["Audio_Song", "Lyric_Song", "Quadrant", "Artist", "Title"],
               [[s["audio_id"], s["lyric_id"], s["quadrant"], "artist", f"title {s['audio_id']}"] for s in listed])
    _write_csv(root / "merge_bimodal_complete_av_values.csv", ["Audio_Song", "Lyric_Song", "Arousal", "Valence"],
               [[s["audio_id"], s["lyric_id"], f"{s['arousal']:.4f}", f"{s['valence']:.4f}"] for s in songs_with_av])
    scheme = root / "tvt_dataframes" / "tvt_70_15_15"
    for partition in ("train", "validate", "test"):
        _write_csv(scheme / f"tvt_70_15_15_{partition}_bimodal_complete.csv", ["Song", "Quadrant"],
                   [[s["audio_id"], s["quadrant"]] for s in songs_with_av if s["tvt"] == partition])
    return MergeTree(root, songs)


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
