"""The default semantic EQ generator: shipped in `sonolab/assets/eq_default_model`, from the bundled copy.

It was produced by exactly (from the repository root, see its config.json `command`):

    sonolab eq train --root src/sonolab/assets/safe --out src/sonolab/assets/eq_default_model --seed 0 --default-generator median

The folder holds the autoencoder (`model.safetensors`, `config.json`) and the per-term median of the same
training contributors (`median.json`). The default is the **median**: over 5 contributor splits
(`python benchmarks/semantic_eq.py`, docs/benchmarks.md) the autoencoder did not beat it beyond the
split-to-split spread. Every `sonolab eq ...` command works offline and at once without `--model`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sonolab.semantic_eq.generators import MedianGenerator
from sonolab.semantic_eq.model import LatentEqModel

DEFAULT_MODEL_COMMAND = "sonolab eq train --root src/sonolab/assets/safe --out src/sonolab/assets/eq_default_model --seed 0 --default-generator median"


def default_model_dir() -> Path:
    return Path(str(resources.files("sonolab") / "assets" / "eq_default_model"))


def load_eq_model(model_dir: str | Path | None = None) -> LatentEqModel | MedianGenerator:
    """The generator a model folder names as its default (`config.json` key `default_generator`:
    "model", the autoencoder, when absent; "median", the per-term median in `median.json`), from
    `model_dir` or the shipped default folder when None."""
    import json

    directory = Path(default_model_dir() if model_dir is None else model_dir)
    try:
        choice = json.loads((directory / "config.json").read_text(encoding="utf-8")).get("default_generator", "model")
    except (OSError, ValueError):
        choice = "model"  # LatentEqModel.load gives the clear error
    if choice == "median":
        return MedianGenerator.load(directory)
    return LatentEqModel.load(directory)


def load_autoencoder(model_dir: str | Path | None = None) -> LatentEqModel:
    """The autoencoder of a model folder (the shipped one when None), whatever its default generator."""
    return LatentEqModel.load(default_model_dir() if model_dir is None else model_dir)
