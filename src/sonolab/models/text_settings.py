"""How lyrics become an embedding: the text tower's settings (torch-free, so recipes validate without torch)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from sonolab.errors import ConfigError

TEXT_MODES: tuple[str, ...] = ("frozen", "finetune", "finetune_after")


@dataclass(frozen=True)
class TextSettings:
    """How lyrics become an embedding. `model_path` is a local folder or the alias `minilm`."""

    model_path: str = "minilm"
    max_length_tokens: int = 512
    truncation: bool = True  # False: a text longer than max_length_tokens is an error, never silently cut
    mode: str = "frozen"
    frozen_epochs: int = 0  # for finetune_after: epochs with the encoder frozen before it trains
    learning_rate: float = 2e-5

    def __post_init__(self) -> None:
        if self.mode not in TEXT_MODES:
            raise ConfigError(f"text.mode must be one of {', '.join(TEXT_MODES)}, got {self.mode!r}")
        if self.max_length_tokens < 2:
            raise ConfigError(f"text.max_length_tokens must be at least 2, got {self.max_length_tokens}")
        if self.frozen_epochs < 0:
            raise ConfigError(f"text.frozen_epochs must be >= 0, got {self.frozen_epochs}")
        if self.learning_rate <= 0:
            raise ConfigError(f"text.learning_rate must be positive, got {self.learning_rate}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> "TextSettings":
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ConfigError(f"unknown text settings: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**dict(payload))

    def trainable_at_epoch(self, epoch: int) -> bool:
        """Whether the encoder's weights train during `epoch` (0-based)."""
        if self.mode == "frozen":
            return False
        if self.mode == "finetune":
            return True
        return epoch >= self.frozen_epochs


