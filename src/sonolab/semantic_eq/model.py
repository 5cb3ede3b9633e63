"""The term-conditioned generative model: a residual autoencoder over normalised EQ settings.

It is trained in the response domain (RMS dB error of the decoded setting's magnitude response, see
`response_torch`) and its latent space is shaped by a supervised contrastive term (annealed in during
training). Each term is summarised by an *anchor* latent and the spread of its training latents: the
anchor is the latent whose decoded setting minimises the mean RMS response error (dB) to that term's
training settings (a geometric median in response space, found by gradient descent through the
decoder). term -> setting decodes the anchor, interpolation decodes straight lines between anchors,
sampling decodes draws from a diagonal Gaussian around the anchor with the term's latent spread times
`sample_temperature` (< 1 keeps samples in the dense part of the term). The decoder ends in a sigmoid and the fixed-bound inverse normalisation, so every
output lies inside the plug-in's limits.

Saved as `model.safetensors` (weights and term statistics) + `config.json` (no pickle).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sonolab.atomic import atomic_path, write_json_atomic
from sonolab.audio.eq import PLUGIN_LIMITS, EqSetting
from sonolab.errors import ConfigError
from sonolab.semantic_eq.generators import check_steps, check_term, settings_from_unit
from sonolab.semantic_eq.normalise import NORMALISATION_VERSION, to_unit

WEIGHTS_NAME = "model.safetensors"


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, then restore the previous count.

    The network is tiny (a few thousand multiply-adds per row): extra threads only add synchronisation,
    and on a busy 2-core machine they made a 10 s training take minutes.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

CONFIG_NAME = "config.json"
FORMAT_VERSION = 2
DEFAULT_SAMPLE_TEMPERATURE = 0.5


@dataclass(frozen=True)
class ArchitectureConfig:
    parameter_count: int = len(PLUGIN_LIMITS)
    hidden_size: int = 64
    latent_size: int = 8
    residual_blocks: int = 2


class ResidualBlock(nn.Module):
    """x + MLP(LayerNorm(x))."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.LayerNorm(size), nn.Linear(size, size), nn.GELU(), nn.Linear(size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class EqAutoencoder(nn.Module):
    """13 normalised parameters -> latent -> 13 values in (0, 1)."""

    def __init__(self, config: ArchitectureConfig) -> None:
        super().__init__()
        self.config = config
        size = config.hidden_size
        self.encoder = nn.Sequential(
            nn.Linear(config.parameter_count, size), *[ResidualBlock(size) for _ in range(config.residual_blocks)],
            nn.LayerNorm(size), nn.Linear(size, config.latent_size),
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_size, size), *[ResidualBlock(size) for _ in range(config.residual_blocks)],
            nn.LayerNorm(size), nn.Linear(size, config.parameter_count), nn.Sigmoid(),
        )

    def encode(self, unit: torch.Tensor) -> torch.Tensor:
        return self.encoder(unit)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent)

    def forward(self, unit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent = self.encode(unit)
        return self.decode(latent), latent


class LatentEqModel:
    """A trained autoencoder plus per-term latent statistics; implements `SettingGenerator`."""

    name = "model"

    def __init__(
        self,
        network: EqAutoencoder,
        terms: list[str],
        term_anchors: np.ndarray,
        term_stds: np.ndarray,
        metadata: dict[str, Any] | None = None,
        term_centroids: np.ndarray | None = None,
        sample_temperature: float = DEFAULT_SAMPLE_TEMPERATURE,
    ) -> None:
        self.network = network.eval()
        self.terms = list(terms)
        self.term_anchors = np.asarray(term_anchors, dtype=np.float32)
        self.term_stds = np.asarray(term_stds, dtype=np.float32)
        self.term_centroids = self.term_anchors.copy() if term_centroids is None else np.asarray(term_centroids, dtype=np.float32)
        self.sample_temperature = float(sample_temperature)
        self.metadata = dict(metadata or {})

    # --- latent space -------------------------------------------------------------------------
    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Plug-in parameter vectors (n, 13) -> latents (n, latent_size)."""
        with torch.no_grad(), single_thread():
            return self.network.encode(torch.as_tensor(to_unit(vectors), dtype=torch.float32)).numpy()

    def decode(self, latents: np.ndarray, strength: float = 1.0) -> list[EqSetting]:
        with torch.no_grad(), single_thread():
            unit = self.network.decode(torch.as_tensor(np.atleast_2d(latents), dtype=torch.float32)).numpy()
        return settings_from_unit(unit, strength)

    def anchor(self, term: str) -> np.ndarray:
        """The latent `generate` decodes for `term` (its response-space geometric median)."""
        return self.term_anchors[self.terms.index(check_term(term, self.terms, self.source_name()))]

    def centroid(self, term: str) -> np.ndarray:
        """The mean training latent of `term` (kept for inspection; `generate` uses the anchor)."""
        return self.term_centroids[self.terms.index(check_term(term, self.terms, self.source_name()))]

    def source_name(self) -> str:
        return str(self.metadata.get("model_dir", "the model"))

    # --- SettingGenerator ----------------------------------------------------------------------
    def generate(self, term: str, strength: float = 1.0) -> EqSetting:
        return self.decode(self.anchor(term), strength)[0]

    def interpolate(self, term_a: str, term_b: str, steps: int, strength: float = 1.0) -> list[EqSetting]:
        check_steps(steps)
        start, end = self.anchor(term_a), self.anchor(term_b)
        weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        return self.decode((1 - weights) * start + weights * end, strength)

    def sample(self, term: str, count: int, seed: int = 0, strength: float = 1.0) -> list[EqSetting]:
        index = self.terms.index(check_term(term, self.terms, self.source_name()))
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal((count, self.term_anchors.shape[1])) * self.term_stds[index] * self.sample_temperature
        draws = self.term_anchors[index] + noise
        return self.decode(draws.astype(np.float32), strength)

    # --- persistence ---------------------------------------------------------------------------
    def save(self, model_dir: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write `model.safetensors` and `config.json` atomically into `model_dir`."""
        from safetensors.torch import save_file

        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        tensors = {f"network.{key}": value.detach().contiguous() for key, value in self.network.state_dict().items()}
        tensors["term_anchors"] = torch.as_tensor(self.term_anchors)
        tensors["term_centroids"] = torch.as_tensor(self.term_centroids)
        tensors["term_stds"] = torch.as_tensor(self.term_stds)
        with atomic_path(model_dir / WEIGHTS_NAME) as temporary:
            save_file(tensors, str(temporary))
        config = {
            "format_version": FORMAT_VERSION,
            "architecture": asdict(self.network.config),
            "terms": self.terms,
            "sample_temperature": self.sample_temperature,
            "normalisation": NORMALISATION_VERSION,
            "parameters": [limit.name for limit in PLUGIN_LIMITS],
            **{key: value for key, value in self.metadata.items() if key != "model_dir"},
            **(extra or {}),
        }
        write_json_atomic(model_dir / CONFIG_NAME, config)
        return model_dir

    @classmethod
    def load(cls, model_dir: str | Path) -> LatentEqModel:
        """Load a model folder written by `save` (safetensors + JSON; nothing executable)."""
        from safetensors.torch import load_file

        model_dir = Path(model_dir)
        config_path, weights_path = model_dir / CONFIG_NAME, model_dir / WEIGHTS_NAME
        if not config_path.is_file() or not weights_path.is_file():
            raise ConfigError(f"{model_dir}: not a semantic EQ model folder (needs {CONFIG_NAME} and {WEIGHTS_NAME}; fix: run `sonolab eq train --out {model_dir}` or drop --model)")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ConfigError(f"{config_path}: invalid JSON ({error}) (fix: retrain the model)") from error
        if config.get("normalisation") != NORMALISATION_VERSION or config.get("format_version") != FORMAT_VERSION:
            raise ConfigError(f"{config_path}: model written by another sonolab version (fix: retrain with `sonolab eq train`)")
        tensors = load_file(str(weights_path))
        network = EqAutoencoder(ArchitectureConfig(**config["architecture"]))
        state = {key.removeprefix("network."): value for key, value in tensors.items() if key.startswith("network.")}
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ConfigError(f"{weights_path}: weights do not match {config_path} ({error}) (fix: retrain the model)") from error
        metadata = {key: value for key, value in config.items() if key not in ("architecture", "terms", "sample_temperature")}
        metadata["model_dir"] = str(model_dir)
        return cls(
            network, config["terms"], tensors["term_anchors"].numpy(), tensors["term_stds"].numpy(), metadata,
            term_centroids=tensors["term_centroids"].numpy(), sample_temperature=float(config.get("sample_temperature", DEFAULT_SAMPLE_TEMPERATURE)),
        )
