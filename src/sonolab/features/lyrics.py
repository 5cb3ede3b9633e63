"""The lyrics modality of the classical task: one sentence embedding per song, the mean over the lyric's tokens of
a frozen sentence encoder's last hidden states (all-MiniLM-L6-v2 by default, offline), cached on disk.

The cache file is keyed by the settings, the encoder folder's identity (its config and weight files' names, sizes
and modification times, and the tokenizer's fingerprint) and every (song id, lyric text) pair: a changed lyric,
setting or model gives another file, never a stale vector. Settings are torch-free (recipes validate without
torch); `lyrics_embeddings` imports torch and transformers when it runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.errors import ConfigError

EMBEDDINGS_PREFIX = "lyrics-"


@dataclass(frozen=True)
class LyricsSettings:
    """How a lyric becomes a vector. `model_path`: a local transformers folder or the alias `minilm`."""

    model_path: str = "minilm"
    max_length_tokens: int = 256  # all-MiniLM-L6-v2 was trained on 256-token inputs; longer lyrics are cut (counted)
    batch_size: int = 16  # lyrics per encoder call

    def __post_init__(self) -> None:
        if self.max_length_tokens < 2:
            raise ConfigError(f"features.lyrics.max_length_tokens must be at least 2, got {self.max_length_tokens}")
        if self.batch_size < 1:
            raise ConfigError(f"features.lyrics.batch_size must be at least 1, got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any] | None) -> "LyricsSettings":
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(payload or {}) - known)
        if unknown:
            raise ConfigError(f"unknown recipe key 'features.lyrics.{unknown[0]}' (known: {', '.join(sorted(known))})")
        return cls(**dict(payload or {}))


@dataclass
class LyricsEmbeddings:
    """Vectors per song id, the cache file, whether it was reused, and how many lyrics were cut."""

    vectors: dict[str, np.ndarray]
    path: Path
    reused: bool
    truncated: int


def _model_identity(model_dir: Path) -> list[tuple[str, int, int]]:
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in model_dir.iterdir() if p.is_file())


def lyrics_embeddings(texts: Mapping[str, str], settings: LyricsSettings, cache_dir: str | Path) -> LyricsEmbeddings:
    """Embeddings of `texts` (song id -> lyric), read from `cache_dir` when this exact set was embedded before."""
    import torch
    from safetensors.numpy import load_file, save_file

    from sonolab.atomic import atomic_path
    from sonolab.models.text import TextEncoder, load_tokenizer, resolve_text_model_dir, tokenizer_fingerprint

    model_dir = resolve_text_model_dir(settings.model_path)
    tokenizer = load_tokenizer(model_dir)
    digest = hashlib.sha256(json.dumps({"settings": settings.to_dict(), "model": _model_identity(model_dir),
                                        "tokenizer": tokenizer_fingerprint(tokenizer)}, sort_keys=True).encode())
    ids = sorted(texts)
    for song_id in ids:
        digest.update(song_id.encode() + b"\0" + texts[song_id].encode() + b"\0")
    path = Path(cache_dir) / f"{EMBEDDINGS_PREFIX}{digest.hexdigest()[:20]}.safetensors"
    if path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            truncated = int((handle.metadata() or {}).get("truncated", 0))
        matrix = load_file(str(path))["embeddings"]
        return LyricsEmbeddings(dict(zip(ids, matrix)), path, True, truncated)
    encoder = TextEncoder.from_pretrained(model_dir).eval()
    rows, truncated = [], 0
    with torch.inference_mode():
        for start in range(0, len(ids), settings.batch_size):
            batch = [texts[i] for i in ids[start:start + settings.batch_size]]
            lengths = [len(row) for row in tokenizer(batch, add_special_tokens=True, truncation=False)["input_ids"]]
            truncated += sum(length > settings.max_length_tokens for length in lengths)
            encoded = tokenizer(batch, padding="longest", truncation=True, max_length=settings.max_length_tokens,
                                return_tensors="pt")
            rows.append(encoder(encoded["input_ids"], encoded["attention_mask"]).float().numpy())
    matrix = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        save_file({"embeddings": np.ascontiguousarray(matrix)}, str(temporary),
                  metadata={"ids": json.dumps(ids), "truncated": str(truncated), "settings": json.dumps(settings.to_dict())})
    return LyricsEmbeddings(dict(zip(ids, matrix)), path, False, truncated)
