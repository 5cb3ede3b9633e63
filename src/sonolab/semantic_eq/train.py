"""Fit the semantic EQ autoencoder on the training contributors (plain seeded loop; the data is tiny).

Loss = RMS response error (dB, over a 64-point log grid, divided by `response_scale_db`)
     + `parameter_weight` * MSE of the normalised settings
     + w(epoch) * supervised contrastive loss (Khosla et al. 2020) on the L2-normalised latents;
w rises linearly from 0 to `contrastive_weight` over the first `anneal_fraction` of the epochs, so
reconstruction is learned before the latent space is pulled apart. The response term is the main one:
the parameters are not identifiable (many settings draw one curve) and the evaluation measures curves;
the small parameter term only keeps the latent space smooth where the response does not constrain it.

After training, each term's anchor latent is found by gradient descent through the frozen decoder:
the latent whose decoded setting minimises the mean RMS response error to the term's training settings
(a geometric median in response space; it starts at the term's latent centroid, so it is deterministic).
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
from sonolab.data.safe import SafeDataset
from sonolab.errors import ConfigError
from sonolab.semantic_eq.model import DEFAULT_SAMPLE_TEMPERATURE, ArchitectureConfig, EqAutoencoder, LatentEqModel, single_thread
from sonolab.semantic_eq.response_torch import rms_db, unit_response_db
from sonolab.semantic_eq.normalise import to_unit
from sonolab.semantic_eq.splits import vocabulary_split


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
    response_scale_db: float = 6.0
    parameter_weight: float = 0.1
    anchor_steps: int = 300
    anchor_learning_rate: float = 0.05
    sample_temperature: float = DEFAULT_SAMPLE_TEMPERATURE
    holdout_fraction: float = 0.2
    min_count_per_term: int = 5  # training rows a term needs to be learned (counted on training contributors only)
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
    """Train on the training contributors of `vocabulary_split(dataset, ...)` (load `dataset` with every
    term: the vocabulary is decided on the training rows); returns the model and a record whose
    `train_index`/`holdout_index` keep only vocabulary terms."""
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
    train_index, holdout_index, train_terms = vocabulary_split(dataset, config.holdout_fraction, config.seed, config.min_count_per_term)
    if not train_terms:
        raise ConfigError(f"{dataset.source}: no term has {config.min_count_per_term} rows from the training contributors (fix: lower --min-count)")
    labels_all = dataset.labels()
    term_ids = {term: index for index, term in enumerate(train_terms)}
    unit = torch.as_tensor(to_unit(dataset.vectors()[train_index]), dtype=torch.float32)
    label_ids = torch.as_tensor([term_ids[term] for term in labels_all[train_index]], dtype=torch.long)
    curves = unit_response_db(unit).detach()
    network = EqAutoencoder(ArchitectureConfig(hidden_size=config.hidden_size, latent_size=config.latent_size, residual_blocks=config.residual_blocks))
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    history: list[dict[str, float]] = []
    for epoch in range(config.epochs):
        network.train()
        weight = contrastive_weight_at(epoch, config)
        order = torch.randperm(unit.shape[0], generator=generator)
        totals = {"response_rms_db": 0.0, "reconstruction": 0.0, "contrastive": 0.0}
        batches = 0
        for start in range(0, unit.shape[0], config.batch_size):
            batch = order[start : start + config.batch_size]
            if batch.numel() < 2:
                continue
            reconstruction, latents = network(unit[batch])
            response_loss = rms_db(unit_response_db(reconstruction), curves[batch]).mean()
            reconstruction_loss = functional.mse_loss(reconstruction, unit[batch])
            contrastive_loss = supervised_contrastive_loss(latents, label_ids[batch], config.contrastive_temperature)
            loss = response_loss / config.response_scale_db + config.parameter_weight * reconstruction_loss + weight * contrastive_loss
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
            totals["response_rms_db"] += float(response_loss.detach())
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
    anchors, anchor_errors = find_term_anchors(network, centroids, curves, label_ids, config)
    holdout_contributors = sorted({dataset.rows[i].contributor_id for i in holdout_index})
    metadata = {
        "sonolab_version": __version__,
        "training": asdict(config),
        "data": {
            "source_name": dataset.source.name,
            "rows_kept": len(dataset.rows),
            "rows_train": int(len(train_index)),
            "rows_holdout": int(len(holdout_index)),
            "term_counts": {term: count for term, count in dataset.term_counts().items() if term in train_terms},
            "vocabulary": "terms with >= min_count_per_term rows from the training contributors",
            "problems": len(dataset.problems),
            "holdout_contributor_count": len(holdout_contributors),
        },
        "final_losses": history[-1] if history else {},
        "anchor_train_response_rms_db": {term: round(error, 3) for term, error in zip(train_terms, anchor_errors)},
        "term_train_counts": {term: int((label_ids == index).sum()) for index, term in enumerate(train_terms)},
        "training_seconds": round(time.perf_counter() - started, 2),
    }
    model = LatentEqModel(network, train_terms, anchors, stds, metadata, term_centroids=centroids, sample_temperature=config.sample_temperature)
    return model, {"history": history, "train_index": train_index, "holdout_index": holdout_index}


def find_term_anchors(
    network: EqAutoencoder, centroids: np.ndarray, curves: torch.Tensor, label_ids: torch.Tensor, config: EqTrainConfig
) -> tuple[np.ndarray, list[float]]:
    """Per term, the latent minimising the mean RMS response error (dB) of its decoded setting to the
    term's training curves; starts at the term's centroid (deterministic). Returns (anchors, errors_db).

    All terms are optimised in one batch: each term's loss depends only on its own anchor, and Adam
    updates every coordinate separately, so this equals optimising them one by one, only faster.
    """
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    term_count = centroids.shape[0]
    membership = (label_ids[None, :] == torch.arange(term_count)[:, None]).float()  # (terms, rows)
    membership = membership / membership.sum(dim=1, keepdim=True)

    def errors_db(latents: torch.Tensor) -> torch.Tensor:
        responses = unit_response_db(network.decode(latents))  # (terms, f)
        distances = rms_db(responses[:, None, :], curves[None, :, :])  # (terms, rows)
        return (distances * membership).sum(dim=1)

    latents = torch.tensor(centroids, dtype=torch.float32).requires_grad_(True)
    optimiser = torch.optim.Adam([latents], lr=config.anchor_learning_rate)
    for _ in range(config.anchor_steps):
        loss = errors_db(latents).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        final = errors_db(latents)
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    return latents.detach().numpy(), [float(value) for value in final]
