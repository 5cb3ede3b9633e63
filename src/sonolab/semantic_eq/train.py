"""Fit the semantic EQ autoencoder on the training contributors (plain seeded loop; the data is tiny).

Loss = MSE of the normalised settings + w(epoch) * supervised contrastive loss (Khosla et al. 2020) on
the L2-normalised latents; w rises linearly from 0 to `contrastive_weight` over the first
`anneal_fraction` of the epochs, so reconstruction is learned before the latent space is pulled apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as functional

from sonolab import __version__
from sonolab.data.safe import SafeDataset, grouped_holdout
from sonolab.errors import ConfigError
from sonolab.semantic_eq.model import ArchitectureConfig, EqAutoencoder, LatentEqModel, single_thread
from sonolab.semantic_eq.normalise import to_unit


@dataclass(frozen=True)
class EqTrainConfig:
    latent_size: int = 8
    hidden_size: int = 64
    residual_blocks: int = 2
    epochs: int = 150
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    contrastive_weight: float = 0.2
    contrastive_temperature: float = 0.2
    anneal_fraction: float = 0.5
    holdout_fraction: float = 0.2
    seed: int = 0

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> EqTrainConfig:
        names = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in payload.items() if key in names})

    def validate(self) -> None:
        if self.latent_size < 1 or self.hidden_size < 1 or self.epochs < 1 or self.batch_size < 2:
            raise ConfigError(f"invalid training settings {asdict(self)} (fix: sizes and epochs must be positive, batch size at least 2)")


def contrastive_weight_at(epoch: int, config: EqTrainConfig) -> float:
    """Linear anneal 0 -> `contrastive_weight` over the first `anneal_fraction` of the epochs."""
    ramp_epochs = max(1, int(round(config.anneal_fraction * config.epochs)))
    return config.contrastive_weight * min(1.0, epoch / ramp_epochs)


def supervised_contrastive_loss(latents: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon: for each anchor with a same-term partner in the batch, -mean log p(partner | anchor)."""
    embeddings = functional.normalize(latents, dim=1)
    similarity = embeddings @ embeddings.T / temperature
    count = latents.shape[0]
    self_mask = torch.eye(count, dtype=torch.bool, device=latents.device)
    similarity = similarity.masked_fill(self_mask, -1e9)
    log_probability = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    positive_counts = positives.sum(dim=1)
    has_positive = positive_counts > 0
    if not bool(has_positive.any()):
        return latents.new_zeros(())
    per_anchor = -(log_probability * positives).sum(dim=1)[has_positive] / positive_counts[has_positive]
    return per_anchor.mean()


def fit_eq_model(
    dataset: SafeDataset,
    config: EqTrainConfig = EqTrainConfig(),
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[LatentEqModel, dict[str, Any]]:
    """Train on the training contributors of `grouped_holdout(dataset, ...)`; returns the model and a record."""
    with single_thread():
        return _fit_eq_model(dataset, config, on_epoch)


def _fit_eq_model(
    dataset: SafeDataset,
    config: EqTrainConfig,
    on_epoch: Callable[[int, dict[str, float]], None] | None,
) -> tuple[LatentEqModel, dict[str, Any]]:
    config.validate()
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    train_index, holdout_index = grouped_holdout(dataset, config.holdout_fraction, config.seed)
    labels_all = dataset.labels()
    train_terms = [term for term in dataset.terms if np.any(labels_all[train_index] == term)]
    term_ids = {term: index for index, term in enumerate(train_terms)}
    unit = torch.as_tensor(to_unit(dataset.vectors()[train_index]), dtype=torch.float32)
    label_ids = torch.as_tensor([term_ids[term] for term in labels_all[train_index]], dtype=torch.long)
    network = EqAutoencoder(ArchitectureConfig(hidden_size=config.hidden_size, latent_size=config.latent_size, residual_blocks=config.residual_blocks))
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    history: list[dict[str, float]] = []
    for epoch in range(config.epochs):
        network.train()
        weight = contrastive_weight_at(epoch, config)
        order = torch.randperm(unit.shape[0], generator=generator)
        totals = {"reconstruction": 0.0, "contrastive": 0.0}
        batches = 0
        for start in range(0, unit.shape[0], config.batch_size):
            batch = order[start : start + config.batch_size]
            if batch.numel() < 2:
                continue
            reconstruction, latents = network(unit[batch])
            reconstruction_loss = functional.mse_loss(reconstruction, unit[batch])
            contrastive_loss = supervised_contrastive_loss(latents, label_ids[batch], config.contrastive_temperature)
            loss = reconstruction_loss + weight * contrastive_loss
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
            totals["reconstruction"] += float(reconstruction_loss.detach())
            totals["contrastive"] += float(contrastive_loss.detach())
            batches += 1
        scheduler.step()
        record = {"epoch": epoch + 1, "contrastive_weight": weight, **{key: value / max(batches, 1) for key, value in totals.items()}}
        history.append(record)
        if on_epoch is not None:
            on_epoch(epoch + 1, record)
    network.eval()
    with torch.no_grad():
        latents = network.encode(unit).numpy()
    centroids = np.stack([latents[label_ids.numpy() == index].mean(axis=0) for index in range(len(train_terms))])
    stds = np.stack([latents[label_ids.numpy() == index].std(axis=0) for index in range(len(train_terms))])
    holdout_contributors = sorted({dataset.rows[i].contributor_id for i in holdout_index})
    metadata = {
        "sonolab_version": __version__,
        "training": asdict(config),
        "data": {
            "source_name": dataset.source.name,
            "rows_kept": len(dataset.rows),
            "rows_train": int(len(train_index)),
            "rows_holdout": int(len(holdout_index)),
            "term_counts": dataset.term_counts(),
            "problems": len(dataset.problems),
            "holdout_contributor_count": len(holdout_contributors),
        },
        "final_losses": history[-1] if history else {},
        "training_seconds": round(time.perf_counter() - started, 2),
    }
    return LatentEqModel(network, train_terms, centroids, stds, metadata), {"history": history, "train_index": train_index, "holdout_index": holdout_index}
