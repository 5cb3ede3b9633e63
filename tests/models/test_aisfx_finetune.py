"""Fine-tuning the aisfx CNN: registry options, frozen parts stay bit-identical after a training step,
and the training pipeline's cached log-mels with AISFX_FEATURE_SETTINGS are exactly the network's input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sonolab.audio.aisfx_input import aisfx_blocks, aisfx_input
from sonolab.audio.features import AISFX_FEATURE_SETTINGS, FeatureSettings, apply_reference_and_floor
from sonolab.data.cache import FeatureCache, build_feature_cache
from sonolab.data.items import Item
from sonolab.errors import ConfigError
from sonolab.models.aisfx import AisfxClassifier, embed_blocks, load_aisfx_network
from sonolab.models.registry import build_model

FRAMES = 60  # short inputs keep the tests fast; the network takes any length >= 8 frames


def _batch(seed: int, size: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(size, 1, 96, FRAMES, generator=generator), torch.randint(0, 3, (size,), generator=generator)


def _train_step(model: torch.nn.Module, seed: int) -> None:
    """One SGD step over every parameter the model exposes (as a training module would build it)."""
    model.train()
    optimiser = torch.optim.SGD(
        [{"params": model.backbone_parameters(), "lr": 0.01}, {"params": model.head_parameters(), "lr": 0.1}], lr=0.1
    )
    inputs, labels = _batch(seed)
    loss = torch.nn.functional.cross_entropy(model(inputs), labels)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], module: torch.nn.Module, prefix: str) -> set[str]:
    after = module.state_dict()
    return {name for name in before if name.startswith(prefix) and not torch.equal(before[name], after[name])}


def test_registry_builds_it_and_the_pretrained_backbone_is_the_shipped_embedding() -> None:
    model = build_model({"name": "aisfx_cnn9", "pretrained": True, "freeze": "none", "dropout": 0.2}, num_classes=5).eval()
    inputs, _ = _batch(0, size=2)
    with torch.no_grad():
        assert model(inputs).shape == (2, 5)
        torch.testing.assert_close(model.backbone(inputs), load_aisfx_network()(inputs), rtol=0, atol=0)
    random_init = build_model({"name": "aisfx_cnn9", "pretrained": False}, num_classes=5)
    shipped = load_aisfx_network().state_dict()["conv_block2.conv1.weight"]
    assert not torch.equal(random_init.backbone.state_dict()["conv_block2.conv1.weight"], shipped)
    groups = model.parameter_groups(lr=1e-3, backbone_lr_scale=0.1)
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 1e-3])
    torch.optim.AdamW(build_model({"name": "aisfx_cnn9", "freeze": "all"}, num_classes=5).parameter_groups(1e-3))  # empty backbone group is fine
    head = {id(p) for p in model.head_parameters()}
    assert head and not head & {id(p) for p in model.backbone_parameters()}
    assert len(model.head_parameters()) + len(model.backbone_parameters()) == len(list(model.parameters()))


def test_probe_leaves_every_backbone_weight_and_statistic_unchanged_while_the_head_learns() -> None:
    torch.manual_seed(0)
    model = build_model({"name": "aisfx_cnn9", "freeze": "all"}, num_classes=3)
    assert model.backbone_parameters() == []
    before = _snapshot(model)
    _train_step(model, seed=1)
    assert _changed(before, model, "backbone.") == set()  # weights, BatchNorm running means and variances
    assert _changed(before, model, "head.") == {"head.weight", "head.bias"}


def test_partial_freeze_trains_only_the_later_blocks() -> None:
    torch.manual_seed(0)
    model = build_model({"name": "aisfx_cnn9", "freeze": "partial", "frozen_blocks": 2}, num_classes=3)
    before = _snapshot(model)
    _train_step(model, seed=2)
    changed = _changed(before, model, "backbone.")
    assert not {name for name in changed if name.startswith(("backbone.conv_block1.", "backbone.conv_block2."))}
    for block in ("conv_block3", "conv_block4"):
        assert f"backbone.{block}.conv1.weight" in changed and f"backbone.{block}.bn1.running_mean" in changed
    assert {"head.weight", "head.bias"} <= _changed(before, model, "head.")


@pytest.mark.parametrize(
    "options, match",
    [
        ({"freeze": "some"}, "freeze must be one of"),
        ({"freeze": "partial"}, "frozen_blocks"),
        ({"freeze": "partial", "frozen_blocks": 4}, "frozen_blocks"),
        ({"freeze": "none", "frozen_blocks": 2}, "only used with freeze: partial"),
        ({"freeze": "all", "pretrained": False}, "random features"),
        ({"dropout": 1.5}, "dropout"),
        ({"learning_rate": 0.1}, "unknown option"),
    ],
)
def test_bad_options_raise_config_errors(options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_model({"name": "aisfx_cnn9", **options}, num_classes=3)


def test_wrong_features_are_refused() -> None:
    model = AisfxClassifier(num_classes=3)
    with pytest.raises(ConfigError, match="AISFX_FEATURE_SETTINGS"):
        model(torch.zeros(1, 1, 64, 100))  # sonolab's default 64-band log-mel
    with pytest.raises(ConfigError, match="at least 8 frames"):
        model(torch.zeros(1, 1, 96, 7))


def test_default_feature_settings_keep_their_cache_fingerprints() -> None:
    assert FeatureSettings().cache_fingerprint() == "2b42473d01915753"  # the value before these options existed
    assert FeatureSettings(sample_rate_hz=44100, n_fft=2048, n_mels=96).cache_fingerprint() == "d52e02cb14e8c0ca"
    assert AISFX_FEATURE_SETTINGS.cache_fingerprint() != FeatureSettings(**{
        **AISFX_FEATURE_SETTINGS.to_dict(), "compression": "db"}).cache_fingerprint()
    assert AISFX_FEATURE_SETTINGS.floor_db == 0.0  # silence and padding on the aisfx scale
    with pytest.raises(ConfigError, match="db_reference"):
        AISFX_FEATURE_SETTINGS.with_updates(db_reference="per_clip_max")


def test_cached_log_mels_with_aisfx_settings_equal_the_aisfx_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    sample_rate_hz = 44100
    items = []
    for index, seconds in enumerate((0.4, 2.6)):
        t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
        audio = 0.3 * np.sin(2 * np.pi * (300 + 900 * index) * t) + 0.05 * rng.standard_normal(t.size)
        path = tmp_path / "audio" / f"clip{index}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, audio.astype(np.float32), sample_rate_hz, subtype="FLOAT")
        items.append(Item(item_id=f"clip{index}", path=path, label="a", group=f"g{index}"))
    build_feature_cache(items, AISFX_FEATURE_SETTINGS, tmp_path / "cache", workers=1, progress=False)
    cache = FeatureCache.open(tmp_path / "cache", AISFX_FEATURE_SETTINGS)
    for item in items:
        audio, _ = sf.read(item.path, dtype="float32")
        cached = apply_reference_and_floor(cache.get(item.item_id), AISFX_FEATURE_SETTINGS)  # what training reads
        expected = aisfx_input(audio, sample_rate_hz)
        assert cached.shape == expected.shape
        np.testing.assert_allclose(cached, expected, rtol=0, atol=1e-5)
        # and the network on the cached frames gives the embedding API's result
        blocks = aisfx_blocks(cached)
        with torch.no_grad():
            from_cache = load_aisfx_network()(torch.from_numpy(blocks).unsqueeze(1)).numpy()
        np.testing.assert_allclose(from_cache, embed_blocks(audio, sample_rate_hz), rtol=0, atol=1e-4)


def test_probe_through_the_lightning_trainer_keeps_the_backbone(tmp_path: Path) -> None:
    """Lightning saves and restores every submodule's training flag around validation: the frozen
    BatchNorm statistics must not depend on that flag."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from sonolab.train.module import ClassifierModule

    torch.manual_seed(0)
    model = build_model({"name": "aisfx_cnn9", "freeze": "all"}, num_classes=3)
    before = _snapshot(model)
    inputs, labels = _batch(5, size=8)
    loader = DataLoader(TensorDataset(inputs, labels), batch_size=4)
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )
    trainer.fit(ClassifierModule(model, num_classes=3, lr=0.01), loader, loader)
    assert _changed(before, model, "backbone.") == set()
    assert _changed(before, model, "head.") == {"head.weight", "head.bias"}
