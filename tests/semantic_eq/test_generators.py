"""Generators (default model, median, random): valid outputs for every term, clear errors, safe files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sonolab.data.safe import bundled_safe_csv, grouped_holdout, load_safe_csv
from sonolab.errors import SonolabError
from sonolab.semantic_eq.default import default_model_dir, load_autoencoder, load_eq_model
from sonolab.semantic_eq.generators import MedianGenerator, RandomGenerator, SettingGenerator, UnknownTermError
from sonolab.semantic_eq.model import LatentEqModel
from sonolab.semantic_eq.train import EqTrainConfig, contrastive_weight_at, fit_eq_model, supervised_contrastive_loss


@pytest.fixture(scope="module")
def model() -> LatentEqModel:
    return load_autoencoder()


@pytest.fixture(scope="module")
def dataset():
    return load_safe_csv(bundled_safe_csv())


def _generators(model: LatentEqModel, dataset) -> list[SettingGenerator]:
    train_index, _ = grouped_holdout(dataset, 0.2, 0)
    median = MedianGenerator.fit(dataset.vectors()[train_index], dataset.labels()[train_index], model.terms)
    return [model, median, RandomGenerator(model.terms, seed=3)]


def test_default_model_is_shipped_and_knows_the_kept_terms(model: LatentEqModel, dataset) -> None:
    assert (default_model_dir() / "model.safetensors").is_file()
    default = load_eq_model()  # the folder serves the per-term median (it was not beaten across splits)
    assert isinstance(default, MedianGenerator) and default.terms == model.terms
    assert {"warm", "bright"} <= set(model.terms)
    assert set(model.terms) <= set(dataset.terms)
    assert "test" not in model.terms and "re27" not in model.terms


@pytest.mark.parametrize("strength", [0.0, 1.0, 2.0])
def test_every_generated_interpolated_and_sampled_setting_is_inside_the_limits(model, dataset, strength: float) -> None:
    for generator in _generators(model, dataset):
        assert isinstance(generator, SettingGenerator)
        for term in generator.terms:
            settings = [generator.generate(term, strength), *generator.sample(term, 20, seed=1, strength=strength)]
            settings += generator.interpolate(term, generator.terms[0], 4, strength)
            for setting in settings:
                assert setting.within_limits(tolerance=0.0), (generator.name, term, setting)
                if strength == 0.0:
                    assert np.all(setting.gains_db() == 0.0)


def test_interpolation_runs_from_a_to_b(model: LatentEqModel) -> None:
    path = model.interpolate("warm", "bright", 5)
    assert len(path) == 5
    np.testing.assert_allclose(path[0].to_vector(), model.generate("warm").to_vector(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(path[-1].to_vector(), model.generate("bright").to_vector(), rtol=1e-4, atol=1e-4)
    high_shelf_gains = [setting.high_shelf_gain_db for setting in path]
    assert high_shelf_gains[0] < high_shelf_gains[2] < high_shelf_gains[-1]


def test_warm_and_bright_differ_in_the_expected_direction(model: LatentEqModel) -> None:
    warm, bright = model.generate("warm"), model.generate("bright")
    assert bright.high_shelf_gain_db > warm.high_shelf_gain_db
    assert bright.low_shelf_gain_db < warm.low_shelf_gain_db


def test_unknown_term_error_lists_known_terms(model, dataset) -> None:
    for generator in _generators(model, dataset):
        with pytest.raises(UnknownTermError) as caught:
            generator.generate("sparkly")
        assert isinstance(caught.value, SonolabError)
        message = str(caught.value)
        assert "sparkly" in message and all(term in message for term in generator.terms)
    np.testing.assert_array_equal(model.generate(" Brighter ").to_vector(), model.generate("bright").to_vector())  # cleaned like the data


def test_save_load_round_trip_uses_safetensors_and_json(tmp_path: Path, dataset) -> None:
    trained, record = fit_eq_model(dataset, EqTrainConfig(epochs=2, hidden_size=16, latent_size=3, anchor_steps=20, seed=1))
    assert len(set(record["train_index"]) & set(record["holdout_index"])) == 0
    trained.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    loaded = LatentEqModel.load(tmp_path / "m")
    assert loaded.terms == trained.terms
    np.testing.assert_allclose(loaded.generate("warm").to_vector(), trained.generate("warm").to_vector(), rtol=1e-6)
    with pytest.raises(SonolabError, match="not a semantic EQ model folder"):
        LatentEqModel.load(tmp_path)


def test_contrastive_loss_prefers_separated_terms_and_is_annealed() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    separated = torch.tensor([[1.0, 0.0]] * 3 + [[-1.0, 0.0]] * 3) + 0.01 * torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    mixed = torch.tensor([[1.0, 0.0], [-1.0, 0.0]] * 3)
    assert supervised_contrastive_loss(separated, labels, 0.2) < supervised_contrastive_loss(mixed, labels, 0.2)
    config = EqTrainConfig(epochs=100, contrastive_weight=0.5, anneal_fraction=0.5)
    assert contrastive_weight_at(0, config) == 0.0
    assert 0.0 < contrastive_weight_at(25, config) < 0.5
    assert contrastive_weight_at(50, config) == 0.5 == contrastive_weight_at(99, config)


def test_training_is_deterministic_and_anchors_beat_centroids_in_response_error(dataset) -> None:
    from sonolab.audio.eq import log_frequency_grid_hz, responses_db

    config = EqTrainConfig(epochs=3, hidden_size=16, latent_size=3, anchor_steps=40, seed=2)
    first, record = fit_eq_model(dataset, config)
    second, _ = fit_eq_model(dataset, config)
    for key, value in first.network.state_dict().items():
        assert torch.equal(value, second.network.state_dict()[key]), key
    np.testing.assert_array_equal(first.term_anchors, second.term_anchors)
    # the anchor is chosen to minimise the mean response error to the term's training settings
    grid = log_frequency_grid_hz(64)
    train_index = record["train_index"]
    warm = dataset.vectors()[train_index][dataset.labels()[train_index] == "warm"]
    targets = responses_db(warm, grid)

    def mean_error(latent: np.ndarray) -> float:
        curve = responses_db([first.decode(latent)[0]], grid)
        return float(np.sqrt(((curve - targets) ** 2).mean(axis=1)).mean())

    index = first.terms.index("warm")
    assert mean_error(first.term_anchors[index]) < mean_error(first.term_centroids[index])
    assert first.metadata["term_train_counts"]["warm"] == len(warm)


def test_median_generator_round_trip_and_the_folder_default(tmp_path: Path, dataset) -> None:
    import json

    train_index, _ = grouped_holdout(dataset, 0.2, 0)
    median = MedianGenerator.fit(dataset.vectors()[train_index], dataset.labels()[train_index], ["warm", "bright"])
    trained, _ = fit_eq_model(dataset, EqTrainConfig(epochs=1, hidden_size=8, latent_size=2, anchor_steps=2, seed=0))
    trained.save(tmp_path / "m", extra={"default_generator": "median"})
    median.save(tmp_path / "m")
    served = load_eq_model(tmp_path / "m")
    assert isinstance(served, MedianGenerator) and served.source_name() == str(tmp_path / "m")
    np.testing.assert_allclose(served.generate("bright").to_vector(), median.generate("bright").to_vector())
    assert json.loads((tmp_path / "m" / "median.json").read_text())["settings"]["warm"] == median.generate("warm").to_dict()
    trained.save(tmp_path / "m", extra={"default_generator": "model"})
    assert isinstance(load_eq_model(tmp_path / "m"), LatentEqModel)
