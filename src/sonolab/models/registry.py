"""`build_model(config, num_classes)`: every model a recipe can name, built from its `model:` section."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from sonolab.errors import ConfigError
from sonolab.models.aisfx import AisfxClassifier
from sonolab.models.backbones import Backbone
from sonolab.models.cnn import BaselineCNN, VGGStyleCNN


def _backbone(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int | None, pretrained_path: str | None = None, dropout: float | None = None) -> nn.Module:
        return Backbone(name, num_classes, pretrained_path=pretrained_path, dropout=dropout)

    return build


MODELS: dict[str, Callable[..., nn.Module]] = {
    "baseline_cnn": BaselineCNN,
    "vgg_cnn": VGGStyleCNN,
    "resnet50": _backbone("resnet50"),
    "alexnet": _backbone("alexnet"),
    "efficientnet_b0": _backbone("efficientnet_b0"),
    # Pretrained aisfx CNN (CC BY 4.0): input must be AISFX_FEATURE_SETTINGS log-mels (1, 96, frames).
    "aisfx_cnn9": AisfxClassifier,
}


def _musicnn_extract(waveform_mono, sample_rate_hz: int, settings: Any = None):
    from sonolab.models.musicnn import extract  # lazy: loads its weights on first use

    return extract(waveform_mono, sample_rate_hz, settings)


# Pretrained embedding extractors for the feature cache: name -> extract(waveform_mono, sample_rate_hz, settings)
# -> (n_vectors, dim) float32. `musicnn`: MSD musicnn penultimate layer, one 200-d vector per 3 s patch.
EMBEDDING_EXTRACTORS: dict[str, Callable[..., Any]] = {
    "musicnn": _musicnn_extract,
}


def embedding_extractor(name: str) -> Callable[..., Any]:
    """The extract function of pretrained embedding `name` (see EMBEDDING_EXTRACTORS)."""
    if name not in EMBEDDING_EXTRACTORS:
        raise ConfigError(f"unknown embedding {name!r} (known: {', '.join(sorted(EMBEDDING_EXTRACTORS))})")
    return EMBEDDING_EXTRACTORS[name]


def model_options(name: str) -> set[str]:
    """The keyword options model `name` accepts (besides `num_classes`)."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})")
    parameters = inspect.signature(MODELS[name]).parameters
    return {key for key in parameters if key not in ("self", "num_classes")}


def build_model(config: dict[str, Any], num_classes: int | None) -> nn.Module:
    """Build the model named `config['name']` with the other keys of `config` as its options."""
    options = dict(config)
    name = options.pop("name", None)
    if name is None:
        raise ConfigError("model section needs a 'name' (known: " + ", ".join(sorted(MODELS)) + ")")
    allowed = model_options(name)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(f"model {name!r}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
    for key in ("channels",):
        if key in options and options[key] is not None:
            options[key] = tuple(int(value) for value in options[key])
    return MODELS[name](num_classes=num_classes, **options)
