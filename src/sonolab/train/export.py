"""Model files for prediction: weights as safetensors plus a JSON with everything needed to use them
(model config, class names, feature settings with the frozen dB reference, framing). Neither file
can run code when loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sonolab.atomic import atomic_path, write_json_atomic
from sonolab.audio.features import FeatureSettings
from sonolab.errors import SonolabError

WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"
FORMAT_VERSION = 1


def save_model(directory: str | Path, model: nn.Module, model_config: dict[str, Any], classes: list[str],
               settings: FeatureSettings, framing: dict[str, Any], task: str = "classification",
               extra: dict[str, Any] | None = None) -> Path:
    """Write `model.safetensors` and `model.json` into `directory` (atomically)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS_NAME) as temporary:
        save_file(state, str(temporary))
    meta = {
        "format_version": FORMAT_VERSION, "task": task, "model": model_config, "classes": list(classes),
        "feature_settings": settings.to_dict(), "framing": dict(framing), **(extra or {}),
    }
    write_json_atomic(directory / META_NAME, meta)
    return directory


def load_model(directory: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from `model.json` and load `model.safetensors`; returns (model in eval mode, meta)."""
    from safetensors.torch import load_file

    from sonolab.models.registry import build_model

    directory = Path(directory)
    meta_path, weights_path = directory / META_NAME, directory / WEIGHTS_NAME
    if not meta_path.is_file() or not weights_path.is_file():
        raise SonolabError(f"{directory}: no {META_NAME} + {WEIGHTS_NAME} here (fix: point at a fold/seed folder of a finished run)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    model = build_model(meta["model"], len(meta["classes"]))
    model.load_state_dict(load_file(str(weights_path)))
    model.eval()
    meta["feature_settings_object"] = FeatureSettings.from_dict(meta["feature_settings"])
    return model, meta


def to_device(model: nn.Module) -> nn.Module:
    return model.to("cuda") if torch.cuda.is_available() else model
