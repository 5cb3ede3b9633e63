"""The default semantic EQ model: shipped in `sonolab/assets/eq_default_model`, trained on the bundled copy.

It was produced by exactly (from the repository root, see its config.json `command`):

    sonolab eq train --root src/sonolab/assets/safe --out src/sonolab/assets/eq_default_model --seed 0

so every `sonolab eq ...` command works offline and at once without `--model`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sonolab.semantic_eq.model import LatentEqModel

DEFAULT_MODEL_COMMAND = "sonolab eq train --root src/sonolab/assets/safe --out src/sonolab/assets/eq_default_model --seed 0"


def default_model_dir() -> Path:
    return Path(str(resources.files("sonolab") / "assets" / "eq_default_model"))


def load_eq_model(model_dir: str | Path | None = None) -> LatentEqModel:
    """The model in `model_dir`, or the shipped default model when None."""
    return LatentEqModel.load(default_model_dir() if model_dir is None else model_dir)
