"""The `bimodal` recipe section: defaults and checks (torch-free, so recipes validate without torch)."""

from __future__ import annotations

import copy
from typing import Any

from sonolab.errors import ConfigError
from sonolab.models.text_settings import TextSettings

MODALITIES: tuple[str, ...] = ("audio", "lyrics")
QUADRANT_SOURCES: tuple[str, ...] = ("classifier", "regression")

BIMODAL_DEFAULTS: dict[str, Any] = {
    "modalities": ["audio", "lyrics"],
    "text": TextSettings().to_dict(),
    "fusion": "concat",  # concat | gated
    "hidden_dim": 256,
    "dropout": 0.3,
    "heads": {"regression": True, "classification": True},
    "loss_weights": {"regression": 1.0, "classification": 1.0},
    "quadrant_from": "classifier",  # classifier | regression (signs of predicted arousal/valence around av_midpoint)
    "av_midpoint": "auto",  # a number, or auto: the threshold that best reproduces the training quadrant labels
    "audio_lr": None,  # null: training.lr
    "head_lr": None,  # null: training.lr
}

# Options of the classification task that the bimodal task does not implement: refused, never ignored.
CLASSIFIER_ONLY_TRAINING: tuple[str, ...] = ("label_smoothing", "mixup_alpha", "class_weights", "balanced_sampling")
# Options whose default the bimodal task does not use: a changed value is refused (its towers have bimodal.audio_lr).
CLASSIFIER_ONLY_VALUES: dict[str, object] = {"backbone_lr_scale": 0.1}
UNSUPPORTED_AUGMENT: tuple[str, ...] = ("waveform",)


def bimodal_section(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe's `bimodal` section over the defaults, checked."""
    section = copy.deepcopy(BIMODAL_DEFAULTS)
    for key, value in (recipe.get("bimodal") or {}).items():
        if key not in BIMODAL_DEFAULTS:
            raise ConfigError(f"unknown recipe key 'bimodal.{key}' (known: {', '.join(sorted(BIMODAL_DEFAULTS))})")
        if isinstance(value, dict) and isinstance(section[key], dict):
            section[key].update(value)
        else:
            section[key] = value
    modalities = [str(m).lower() for m in section["modalities"]]
    if not modalities or any(m not in MODALITIES for m in modalities):
        raise ConfigError(f"bimodal.modalities must be a non-empty list of {', '.join(MODALITIES)}, got {section['modalities']!r}")
    section["modalities"] = [m for m in MODALITIES if m in modalities]
    if section["quadrant_from"] not in QUADRANT_SOURCES:
        raise ConfigError(f"bimodal.quadrant_from must be classifier or regression, got {section['quadrant_from']!r}")
    heads = section["heads"]
    if section["quadrant_from"] == "classifier" and not heads.get("classification"):
        raise ConfigError("bimodal.quadrant_from: classifier needs bimodal.heads.classification: true")
    if section["quadrant_from"] == "regression" and not heads.get("regression"):
        raise ConfigError("bimodal.quadrant_from: regression needs bimodal.heads.regression: true")
    TextSettings.from_dict(section["text"])
    return section


def refuse_unsupported_options(recipe: dict[str, Any]) -> None:
    """A bimodal recipe that sets an option this task does not implement is an error, not a silent no-op."""
    training = recipe["training"]
    for key in CLASSIFIER_ONLY_TRAINING:
        if training.get(key):
            raise ConfigError(f"training.{key} applies to classification recipes only; the bimodal task does not "
                              f"use it (fix: remove it from the recipe or set it to 0/false)")
    for key, default in CLASSIFIER_ONLY_VALUES.items():
        if training.get(key, default) != default:
            raise ConfigError(f"training.{key} applies to classification recipes only (fix: remove it; the bimodal task "
                              "sets its towers' learning rates with bimodal.audio_lr, bimodal.head_lr and bimodal.text.learning_rate)")
    for key in UNSUPPORTED_AUGMENT:
        if (recipe.get("augment") or {}).get(key, {}).get("enabled"):
            raise ConfigError(f"augment.{key} is not implemented by the bimodal task (fix: set augment.{key}.enabled: false; "
                              "augment.spec_augment and augment.spectrogram_warp apply to its audio tower)")
    if (recipe.get("group_spreading") or {}).get("enabled"):
        raise ConfigError("group_spreading is implemented by the classification and classical tasks, not bimodal "
                          "(fix: set group_spreading.enabled: false)")


def bimodal_validation_metrics(section: dict[str, Any]) -> tuple[str, ...]:
    """What the bimodal module logs each validation epoch for these heads."""
    names = ["val_loss"]
    if section["heads"].get("regression"):
        names += ["val_regression_loss", "val_mean_ccc"]
    if section["heads"].get("classification"):
        names += ["val_classification_loss", "val_accuracy"]
    return tuple(names)
