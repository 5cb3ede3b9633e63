"""What the classical task's head reads: one vector per song made of one or more modalities, each cached apart.

The `features` section names the audio kinds and the lyrics modality:

    features:
      kind: musicnn            # the first audio kind (`none`: no audio, lyrics only) and its settings
      output: both
      extra:                   # further audio kinds, each with its own settings and its own cache
        - {kind: aisfx}
      lyrics: {model_path: minilm}   # the lyrics modality (`sonolab.features.lyrics`); absent: audio only
      ablation: true           # with both modalities: every fold also fits audio only and lyrics only

Modalities: `audio` (the audio kinds' clip vectors, concatenated in the order listed) and `lyrics`. The head's
pipeline standardises every column on the fold's training rows, so each modality is standardised by its own
statistics before the blocks meet in the head (fusion by concatenation).

Datasets without lyrics (4Q, the MERGE audio part) run the audio modality alone, automatically, and the summary
says so. A song whose lyric file cannot be read where the others can is listed in failures.json with its reason
and left out of EVERY modality set, so the ablation compares the same songs (the MERGE bimodal loader already
lists songs whose lyric file is missing). Import is torch-free: recipes validate without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.errors import ConfigError, DatasetError
from sonolab.train.feature_section import audio_sections, check_inputs, kind_settings, lyrics_settings  # noqa: F401 (re-exported)

MODALITIES: tuple[str, ...] = ("audio", "lyrics")


def set_name(modalities: tuple[str, ...]) -> str:
    return "+".join(modalities)


def modality_sets(modalities: list[str], ablation: bool) -> list[tuple[str, ...]]:
    """The sets each fold fits: the full set first (the headline), then each modality alone when ablating."""
    full = tuple(m for m in MODALITIES if m in modalities)
    if not ablation or len(full) < 2:
        return [full]
    return [full, *((m,) for m in full)]


def clip_vector_of(features: np.ndarray, kind: str) -> np.ndarray:
    """One vector per clip from a kind's cached or extracted array: a log-mel `(n_mels, frames)` gives the mean and
    std of every band over time; other kinds' `(n_vectors, dim)` are already pooled (or averaged when not)."""
    from sonolab.features.pooling import clip_vector

    if kind == "logmel":
        return clip_vector(np.asarray(features).T, "mean_std")
    return clip_vector(features, "auto")


def _failure_dict(failure: Any) -> dict[str, str]:
    return failure.to_dict() if hasattr(failure, "to_dict") else {"reason": str(failure)}


@dataclass
class ModalityVectors:
    """Per modality, one vector per usable song; what was left out, and notes for the summary."""

    blocks: dict[str, dict[str, np.ndarray]]
    usable: list[str]
    problems: list[dict[str, str]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def matrix(self, ids: list[str], modalities: tuple[str, ...]) -> np.ndarray:
        """Rows of `ids`: the modalities' vectors concatenated in `modalities` order."""
        return np.stack([np.concatenate([self.blocks[m][i] for m in modalities]) for i in ids])


def _audio_block(items: list[Any], sections: list[dict[str, Any]], cache_dir: Path, progress: bool
                 ) -> tuple[dict[str, np.ndarray], list[dict[str, str]], dict[str, Any]]:
    """Each audio kind from its own feature cache, concatenated per item (items every kind could read)."""
    from sonolab.data.cache import build_feature_cache, cache_dir_for, open_feature_cache

    per_kind: list[dict[str, np.ndarray]] = []
    problems: list[dict[str, str]] = []
    caches, reused = [], []
    for entry in sections:
        settings = kind_settings(entry)
        directory = cache_dir_for(cache_dir, settings)
        result = build_feature_cache(items, settings, directory, progress=progress)
        cache = open_feature_cache(directory, settings)
        problems += [{**_failure_dict(f), "feature_kind": entry["kind"]} for f in (result.failures or [])]
        per_kind.append({item.item_id: clip_vector_of(cache.view(item.item_id), entry["kind"])
                         for item in items if item.item_id in cache})
        caches.append(str(directory))
        reused.append(not result.rebuilt)
    ids = [item.item_id for item in items if all(item.item_id in vectors for vectors in per_kind)]
    block = {i: np.concatenate([vectors[i] for vectors in per_kind]).astype(np.float32) for i in ids}
    return block, problems, {"feature_cache": caches[0] if len(caches) == 1 else caches,
                             "feature_cache_reused": reused[0] if len(reused) == 1 else reused}


def _lyrics_block(items: list[Any], settings: Any, cache_dir: Path) -> tuple[dict[str, np.ndarray], list[dict[str, str]], dict[str, Any]]:
    """The lyrics embedding of every item whose lyric file reads (the others listed with their reason)."""
    from sonolab.data.merge import read_lyrics_of
    from sonolab.features.lyrics import lyrics_embeddings

    texts, unread = read_lyrics_of(items)
    problems = [{"path": problem.path, "reason": f"lyrics: {problem.reason}", "item_id": problem.item_id} for problem in unread]
    embedded = lyrics_embeddings(texts, settings, cache_dir / "lyrics")
    return embedded.vectors, problems, {"lyrics_cache": str(embedded.path), "lyrics_cache_reused": embedded.reused,
                                        "truncated_lyrics": embedded.truncated}


def modality_vectors(recipe: dict[str, Any], index: Any, cache_dir: Path, progress: bool) -> ModalityVectors:
    """Every modality the recipe and the dataset have, for the items all of them could read."""
    section = recipe["features"]
    sections = audio_sections(section)
    lyrics = lyrics_settings(section)
    items = list(index.items)
    has_lyrics = any(item.metadata.get("lyrics_path") for item in items)
    blocks: dict[str, dict[str, np.ndarray]] = {}
    problems: list[dict[str, str]] = []
    extras: dict[str, Any] = {"notes": []}
    if sections:
        if items and all(str(item.path).lower().endswith(".txt") for item in items):
            raise ConfigError(f"{index.root}: dataset {index.name} holds lyrics only, so it has no audio for "
                              f"features.kind {sections[0]['kind']!r} (fix: features.kind: none with features.lyrics)")
        blocks["audio"], found, info = _audio_block(items, sections, cache_dir, progress)
        problems += found
        extras.update(info)
    if lyrics is not None and has_lyrics:
        blocks["lyrics"], found, info = _lyrics_block(items, lyrics, cache_dir)
        problems += found
        extras.update(info)
    elif lyrics is not None:
        if not sections:
            raise DatasetError(f"{index.root}: dataset {index.name} has no lyrics, and features.kind is none (fix: name an "
                               "audio kind, or use a dataset with lyrics such as merge or merge_lyrics)")
        extras["notes"].append(f"Modalities: dataset {index.name} has no lyrics, so the audio modality runs alone "
                               "(features.lyrics is not used).")
    usable = [item.item_id for item in items if all(item.item_id in block for block in blocks.values())]
    if not usable:
        raise DatasetError(f"{index.root}: no item has every modality ({len(problems)} failure(s), e.g. {problems[:1]})")
    extras["modalities"] = [m for m in MODALITIES if m in blocks]
    extras["feature_kinds"] = [entry["kind"] for entry in sections]
    if not extras["notes"]:
        del extras["notes"]
    return ModalityVectors(blocks, usable, problems, extras)
