"""Image backbones from torchvision (ResNet-50, AlexNet, EfficientNet-B0) adapted to 1-channel log-mels.

Nothing is ever downloaded: weights are random unless `pretrained_path` names a local file holding a
torchvision state dict (safetensors, or a `.pt`/`.pth` read with `torch.load(weights_only=True)`).
Pretrained 3-channel first-layer kernels are summed over the input channels into one, which keeps the
response to a grey image (equal R, G, B) unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from sonolab.errors import ConfigError


_MIN_INPUT_SIZE = {"alexnet": 63, "resnet50": 32, "efficientnet_b0": 32}


def _first_conv_path(name: str) -> str:
    return {"resnet50": "conv1", "alexnet": "features.0", "efficientnet_b0": "features.0.0"}[name]


def _classifier_path(name: str) -> str:
    return {"resnet50": "fc", "alexnet": "classifier.6", "efficientnet_b0": "classifier.1"}[name]


def _get(module: nn.Module, dotted: str) -> nn.Module:
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def _set(module: nn.Module, dotted: str, value: nn.Module) -> None:
    parts = dotted.split(".")
    parent = _get(module, ".".join(parts[:-1])) if len(parts) > 1 else module
    setattr(parent, parts[-1], value)


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a local safetensors or torch file (loaded with weights_only=True: no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: pretrained weights file not found (fix: give a local file; sonolab never downloads)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        raise ConfigError(f"{path}: not a weights-only state dict ({error}) (fix: save with torch.save(model.state_dict()))") from error
    if isinstance(payload, dict) and "state_dict" in payload and isinstance(payload["state_dict"], dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict):
        raise ConfigError(f"{path}: expected a state dict, got {type(payload).__name__}")
    return payload


def _factory(name: str) -> Callable[[], nn.Module]:
    import torchvision.models as tvm

    return {"resnet50": tvm.resnet50, "alexnet": tvm.alexnet, "efficientnet_b0": tvm.efficientnet_b0}[name]


class Backbone(nn.Module):
    """A torchvision backbone with a 1-channel input (preceded by a batch norm) and a `num_classes` head."""

    def __init__(self, name: str, num_classes: int | None, pretrained_path: str | None = None, dropout: float | None = None) -> None:
        super().__init__()
        if name not in ("resnet50", "alexnet", "efficientnet_b0"):
            raise ConfigError(f"unknown backbone {name!r} (known: resnet50, alexnet, efficientnet_b0)")
        state = load_state_dict_file(pretrained_path) if pretrained_path else None
        network = _factory(name)(weights=None)
        if state is not None:
            missing, unexpected = network.load_state_dict(state, strict=False)
            if unexpected or len(missing) == len(network.state_dict()):
                raise ConfigError(f"{pretrained_path}: does not hold {name} weights (unexpected keys: {list(unexpected)[:5]})")
        first_path = _first_conv_path(name)
        first: nn.Conv2d = _get(network, first_path)
        mono = nn.Conv2d(1, first.out_channels, first.kernel_size, first.stride, first.padding, bias=first.bias is not None)
        with torch.no_grad():
            mono.weight.copy_(first.weight.sum(dim=1, keepdim=True))
            if first.bias is not None:
                mono.bias.copy_(first.bias)
        _set(network, first_path, mono)
        head_path = _classifier_path(name)
        head: nn.Linear = _get(network, head_path)
        self._embedding_dim = head.in_features
        _set(network, head_path, nn.Linear(head.in_features, num_classes) if num_classes else nn.Identity())
        if dropout is not None and name == "resnet50" and num_classes:
            _set(network, "fc", nn.Sequential(nn.Dropout(dropout), nn.Linear(self._embedding_dim, num_classes)))
        self.input_norm = nn.BatchNorm2d(1)
        self.network = network
        self.name = name

    @property
    def embedding_dim(self) -> int:
        return self._embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(x)
        minimum = _MIN_INPUT_SIZE.get(self.name, 1)
        if x.shape[-2] < minimum or x.shape[-1] < minimum:
            # AlexNet's stride-4 stem and three pools need >= 63 bins/frames; stretch small inputs up to that.
            size = (max(x.shape[-2], minimum), max(x.shape[-1], minimum))
            x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.network(x)
