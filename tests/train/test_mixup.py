"""Mixup: exact convex combinations of a batch with a permutation of itself, a mixed target in the training
loss, reproducible draws, and recipe validation (mixup and EMA options)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sonolab.errors import ConfigError
from sonolab.train.config import load_recipe
from sonolab.train.mixup import mix_batch
from sonolab.train.module import ClassifierModule


def test_mix_is_a_convex_combination_with_a_permutation_of_the_batch() -> None:
    torch.manual_seed(0)
    features = torch.randn(16, 1, 8, 12)
    weights = []
    for _ in range(20):
        mixed = mix_batch(features, alpha=0.4)
        assert sorted(mixed.partner.tolist()) == list(range(16))
        assert 0.5 <= mixed.weight <= 1.0
        expected = mixed.weight * features + (1 - mixed.weight) * features[mixed.partner]
        torch.testing.assert_close(mixed.features, expected)
        weights.append(mixed.weight)
    assert len(set(weights)) == 20  # a new weight per batch
    torch.manual_seed(3)
    first = mix_batch(features, alpha=0.4)
    torch.manual_seed(3)
    again = mix_batch(features, alpha=0.4)
    assert first.weight == again.weight and torch.equal(first.partner, again.partner)  # resumable: seeded draws
    with pytest.raises(ValueError, match="alpha"):
        mix_batch(features, alpha=0.0)


def test_training_loss_mixes_the_two_targets_with_the_same_weight() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 12, 3))
    features = torch.randn(6, 1, 8, 12)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    module = ClassifierModule(model, 3, mixup_alpha=0.4, label_smoothing=0.1)
    module.log = lambda *args, **kwargs: None  # outside a Trainer
    torch.manual_seed(7)
    loss = module.training_step((features, labels), 0)
    torch.manual_seed(7)
    mixed = mix_batch(features, 0.4)
    logits = model(mixed.features)
    ce = lambda target: torch.nn.functional.cross_entropy(logits, target, label_smoothing=0.1)  # noqa: E731
    expected = mixed.weight * ce(labels) + (1 - mixed.weight) * ce(labels[mixed.partner])
    torch.testing.assert_close(loss, expected)
    plain = ClassifierModule(model, 3, label_smoothing=0.1)
    plain.log = lambda *args, **kwargs: None
    assert not torch.allclose(plain.training_step((features, labels), 0), loss)


def test_recipe_rejects_a_negative_alpha_and_an_ema_decay_outside_0_1(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("dataset: fsdd\n")
    assert load_recipe(path, ["training.mixup_alpha=0.2"])["training"]["mixup_alpha"] == 0.2
    with pytest.raises(ConfigError, match=r"r\.yaml.*mixup_alpha"):
        load_recipe(path, ["training.mixup_alpha=-1"])
    assert load_recipe(path, ["training.ema_decay=0.99"])["training"]["ema_decay"] == 0.99
    for bad in ("1", "1.5", "-0.1", "high"):
        with pytest.raises(ConfigError, match=r"r\.yaml.*ema_decay"):
            load_recipe(path, [f"training.ema_decay={bad}"])
