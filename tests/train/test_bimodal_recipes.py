"""The MERGE recipes resolve to the right defaults, and the bimodal task is registered with the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonolab.errors import ConfigError

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("name, modalities", [("merge_bimodal", ["audio", "lyrics"]), ("merge_audio", ["audio"]),
                                              ("merge_lyrics", ["lyrics"])])
def test_recipes_resolve_with_the_merge_defaults(name: str, modalities: list[str]) -> None:
    from sonolab.train.bimodal.settings import bimodal_section
    from sonolab.train.config import load_recipe

    recipe = load_recipe(RECIPES / f"{name}.yaml")
    assert recipe["task"] == "bimodal" and recipe["dataset"] == "merge"
    features = recipe["features"]
    assert features["db_reference"] == "dataset_max" and features["top_db"] > 0
    assert (features["sample_rate_hz"], features["n_fft"], features["hop_length_samples"], features["n_mels"]) == (22050, 2048, 512, 128)
    assert recipe["framing"]["target_frames"] == 1292
    assert recipe["framing"]["crop"] in ("random", "middle", "max_energy") and recipe["framing"]["eval_crop"] == "middle"
    assert recipe["training"]["gradient_clip_norm"] > 0
    assert bimodal_section(recipe)["modalities"] == modalities


def test_bad_bimodal_keys_are_errors() -> None:
    from sonolab.train.bimodal.settings import bimodal_section
    from sonolab.train.config import load_recipe

    with pytest.raises(ConfigError, match="bimodal.fuson"):
        load_recipe(RECIPES / "merge_bimodal.yaml", ["bimodal.fuson=gated"])
    with pytest.raises(ConfigError, match="modalities"):
        load_recipe(RECIPES / "merge_bimodal.yaml", ["bimodal.modalities=[video]"])
    with pytest.raises(ConfigError, match="modalities"):
        bimodal_section({"bimodal": {"modalities": []}})


def test_audio_tower_of_the_recipe_has_se_blocks_and_a_512_embedding() -> None:
    from sonolab.models.blocks import SEBlock
    from sonolab.models.registry import build_model
    from sonolab.train.config import load_recipe

    recipe = load_recipe(RECIPES / "merge_audio.yaml")
    tower = build_model(dict(recipe["model"]), num_classes=None)
    assert tower.embedding_dim == 512
    assert sum(isinstance(module, SEBlock) for module in tower.modules()) == 4
    gated = build_model({**recipe["model"], "attention": "none", "feature_gate": True}, num_classes=None)
    assert gated.embedding_dim == 512 and not any(isinstance(m, SEBlock) for m in gated.modules())


@pytest.mark.parametrize("option", ["training.mixup_alpha=0.2", "training.label_smoothing=0.1", "training.class_weights=true"])
def test_classification_only_training_options_are_refused_not_ignored(tmp_path: Path, option: str) -> None:
    from sonolab.train.config import load_recipe

    with pytest.raises(ConfigError, match=option.split("=")[0].replace(".", r"\.") + ".*classification recipes only"):
        load_recipe(RECIPES / "merge_bimodal.yaml", [option])  # refused when the recipe is read, before any work
