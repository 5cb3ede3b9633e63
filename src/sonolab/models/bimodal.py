"""Audio + lyrics fusion with valence/arousal regression and/or quadrant classification heads.

Either tower may be absent (single-modality runs from the same recipe). Fusion:
- `concat` (default): the towers' embeddings side by side, then a small MLP.
- `gated`: a gated multimodal unit (Arevalo et al., 2017): each embedding is projected to
  `hidden_dim` with tanh, a sigmoid gate computed from both decides, per feature, how much comes
  from audio and how much from lyrics. With one modality the gate is skipped.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sonolab.errors import ConfigError

FUSIONS: tuple[str, ...] = ("concat", "gated")
TARGET_NAMES: tuple[str, ...] = ("arousal", "valence")  # column order of the regression head
QUADRANT_CLASSES: tuple[str, ...] = ("Q1", "Q2", "Q3", "Q4")


class GatedFusion(nn.Module):
    """Gated multimodal unit over two embeddings."""

    def __init__(self, audio_dim: int, text_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.audio_projection = nn.Linear(audio_dim, hidden_dim)
        self.text_projection = nn.Linear(text_dim, hidden_dim)
        self.gate = nn.Linear(audio_dim + text_dim, hidden_dim)

    def forward(self, audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.gate(torch.cat([audio, text], dim=1)))
        return gate * torch.tanh(self.audio_projection(audio)) + (1.0 - gate) * torch.tanh(self.text_projection(text))


class BimodalModel(nn.Module):
    """Towers -> fusion -> MLP -> heads. `forward(batch)` returns `av` (B, 2: arousal, valence) and/or `logits` (B, 4)."""

    def __init__(
        self,
        audio_encoder: nn.Module | None,
        text_encoder: nn.Module | None,
        fusion: str = "concat",
        hidden_dim: int = 256,
        dropout: float = 0.3,
        regression: bool = True,
        classification: bool = True,
        num_classes: int = len(QUADRANT_CLASSES),
    ) -> None:
        super().__init__()
        if audio_encoder is None and text_encoder is None:
            raise ConfigError("modalities must name at least one of audio, lyrics")
        if fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        if not (regression or classification):
            raise ConfigError("at least one head (regression or classification) must be on")
        self.audio_encoder = audio_encoder
        self.text_encoder = text_encoder
        self.fusion_kind = fusion
        audio_dim = int(audio_encoder.embedding_dim) if audio_encoder is not None else 0
        text_dim = int(text_encoder.embedding_dim) if text_encoder is not None else 0
        self.fusion: nn.Module | None = None
        if fusion == "gated" and audio_encoder is not None and text_encoder is not None:
            self.fusion = GatedFusion(audio_dim, text_dim, hidden_dim)
            fused_dim = hidden_dim
        else:
            fused_dim = audio_dim + text_dim
        self.trunk = nn.Sequential(nn.Dropout(dropout), nn.Linear(fused_dim, hidden_dim), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.regression_head = nn.Linear(hidden_dim, len(TARGET_NAMES)) if regression else None
        self.classification_head = nn.Linear(hidden_dim, num_classes) if classification else None

    @property
    def modalities(self) -> list[str]:
        return [name for name, tower in (("audio", self.audio_encoder), ("lyrics", self.text_encoder)) if tower is not None]

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The fused representation the heads read."""
        parts: list[torch.Tensor] = []
        if self.audio_encoder is not None:
            parts.append(self.audio_encoder(batch["mel"]))
        if self.text_encoder is not None:
            parts.append(self.text_encoder(batch["input_ids"], batch["attention_mask"]))
        fused = self.fusion(parts[0], parts[1]) if self.fusion is not None else torch.cat(parts, dim=1)
        return self.trunk(fused)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = self.embed(batch)
        outputs: dict[str, torch.Tensor] = {}
        if self.regression_head is not None:
            outputs["av"] = self.regression_head(hidden)
        if self.classification_head is not None:
            outputs["logits"] = self.classification_head(hidden)
        return outputs

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by tower (`audio`, `text`, `head`) so each can have its own learning rate."""
        groups: dict[str, list[nn.Parameter]] = {"audio": [], "text": [], "head": []}
        for name, parameter in self.named_parameters():
            if name.startswith("audio_encoder."):
                groups["audio"].append(parameter)
            elif name.startswith("text_encoder."):
                groups["text"].append(parameter)
            else:
                groups["head"].append(parameter)
        return {key: value for key, value in groups.items() if value}


def describe(model: BimodalModel) -> dict[str, Any]:
    """Parameter counts per group (for logs and the run folder)."""
    return {name: sum(p.numel() for p in params) for name, params in model.parameter_groups().items()}
