"""Models: forward passes on two input sizes, attention blocks that change the output and train,
local pretrained weights summed into a 1-channel stem, registry validation."""

from __future__ import annotations

import pytest
import torch

from sonolab.errors import ConfigError
from sonolab.models.blocks import CBAM, FeatureGate, SEBlock
from sonolab.models.registry import build_model

SIZES = [(2, 1, 24, 40), (3, 1, 40, 71)]
TINY = {"channels": [4, 8, 8], "classifier_hidden": 8}


@pytest.mark.parametrize(
    "config",
    [
        {"name": "baseline_cnn", "channels": [4, 8]},
        {"name": "vgg_cnn", **TINY},
        {"name": "vgg_cnn", **TINY, "convs_per_block": 2, "attention": "se", "attention_reduction": 2},
        {"name": "vgg_cnn", **TINY, "attention": "cbam", "attention_reduction": 2, "feature_gate": True},
        {"name": "vgg_cnn", **TINY, "feature_gate": True, "gate_placement": "hidden"},
        {"name": "alexnet"},
        {"name": "resnet50"},
        {"name": "efficientnet_b0"},
    ],
    ids=lambda c: "-".join(str(v) for k, v in c.items() if k in ("name", "attention", "convs_per_block", "gate_placement")),
)
def test_forward_on_two_input_sizes(config: dict) -> None:
    torch.manual_seed(0)
    model = build_model(config, num_classes=5).eval()
    with torch.no_grad():
        for size in SIZES:
            logits = model(torch.randn(*size))
            assert logits.shape == (size[0], 5)
            assert torch.isfinite(logits).all()


def test_vgg_without_classes_returns_its_embedding() -> None:
    model = build_model({"name": "vgg_cnn", "channels": [4, 8, 16]}, num_classes=None).eval()
    assert model.embedding_dim == 16
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 50)).shape == (2, 16)


ATTENTION_BLOCKS = {
    "se": lambda: SEBlock(8, reduction=2),
    "cbam": lambda: CBAM(8, reduction=2, spatial_kernel_size=3),
}


@pytest.mark.parametrize("kind", list(ATTENTION_BLOCKS))
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_attention_blocks_reweight_and_train(kind: str, seed: int) -> None:
    # The block is built here, after seeding: built at collection time its weights depended on whatever
    # ran before, and one draw had every squeeze unit's ReLU dead for this input (no gradient upstream).
    torch.manual_seed(seed)
    block = ATTENTION_BLOCKS[kind]()
    # Channel means that differ from clip to clip, as real feature maps do; zero-mean noise pools to ~0
    # and leaves the squeeze layer's output to its biases alone.
    x = torch.randn(4, 8, 6, 10) + 2.0 * torch.randn(4, 8, 1, 1)
    out = block(x)
    assert out.shape == x.shape
    assert not torch.allclose(out, x)  # a sigmoid gate in (0, 1) changes the features
    ratio = out / x
    assert ((ratio > 0) & (ratio < 1)).float().mean() > 0.99  # each value scaled by a weight in (0, 1)
    before = {name: value.clone() for name, value in block.named_parameters()}
    optimizer = torch.optim.SGD(block.parameters(), lr=0.5)
    target = torch.randn_like(out)
    torch.nn.functional.mse_loss(block(x), target).backward()
    optimizer.step()
    changed = [name for name, value in block.named_parameters() if not torch.equal(value, before[name])]
    assert len(changed) == len(before), f"parameters that did not train: {set(before) - set(changed)}"


def test_feature_gate_changes_output_and_trains() -> None:
    torch.manual_seed(2)
    gate = FeatureGate(16, hidden_fraction=0.25)
    x = torch.randn(5, 16)
    assert not torch.allclose(gate(x), x)
    parameters = list(gate.parameters())
    before = [p.clone() for p in parameters]
    torch.nn.functional.mse_loss(gate(x), torch.zeros_like(x)).backward()
    torch.optim.SGD(parameters, lr=0.5).step()
    assert all(not torch.equal(p, b) for p, b in zip(parameters, before))


@pytest.mark.parametrize("option", [{"attention": "se"}, {"attention": "cbam"}, {"feature_gate": True}])
def test_attention_option_changes_the_vgg_output(option: dict) -> None:
    """Attention is a constructor option: with the shared layers' weights equal, the block changes the logits."""
    torch.manual_seed(3)
    plain = build_model({"name": "vgg_cnn", **TINY, "attention_reduction": 2}, 3).eval()
    attentive = build_model({"name": "vgg_cnn", **TINY, "attention_reduction": 2, **option}, 3).eval()
    shared = {k: v for k, v in plain.state_dict().items()}
    attentive_state = attentive.state_dict()
    # copy every parameter the two share by shape, in order, so only the attention differs
    plain_values = list(shared.values())
    attentive_keys = [k for k in attentive_state if "excite" not in k and "channel" not in k and "spatial" not in k and "gate" not in k]
    assert len(attentive_keys) == len(plain_values)
    attentive.load_state_dict({**attentive_state, **dict(zip(attentive_keys, plain_values))})
    x = torch.randn(2, 1, 24, 40)
    with torch.no_grad():
        assert not torch.allclose(plain(x), attentive(x), atol=1e-6)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_pretrained_three_channel_weights_are_summed_into_one(tmp_path, suffix: str) -> None:
    import torchvision

    torch.manual_seed(4)
    source = torchvision.models.efficientnet_b0(weights=None)
    state = source.state_dict()
    path = tmp_path / f"weights{suffix}"
    if suffix == ".pt":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    model = build_model({"name": "efficientnet_b0", "pretrained_path": str(path)}, num_classes=4)
    stem = model.network.features[0][0]
    assert stem.in_channels == 1
    assert torch.allclose(stem.weight, state["features.0.0.weight"].sum(dim=1, keepdim=True))
    # a deeper layer is loaded unchanged
    assert torch.equal(model.network.features[1][0].block[0][0].weight, state["features.1.0.block.0.0.weight"])


def test_missing_pretrained_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="never downloads"):
        build_model({"name": "alexnet", "pretrained_path": str(tmp_path / "absent.pt")}, 3)


def test_unknown_model_option_is_named() -> None:
    with pytest.raises(ConfigError, match="attentoin"):
        build_model({"name": "vgg_cnn", "attentoin": "se"}, 3)
    with pytest.raises(ConfigError, match="must be one of"):
        build_model({"name": "vgg_cnn", "attention": "transformer"}, 3)


@pytest.mark.parametrize("name", ["baseline_cnn", "vgg_cnn"])
def test_band_mean_input_norm_ignores_a_fixed_spectral_colouring_and_batch_norm_does_not(name: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 1, 24, 40) * 10 - 40
    colouring = torch.linspace(-12.0, 12.0, 24).view(1, 1, 24, 1)  # a microphone's tilt, the same in every frame
    outputs = {}
    for input_norm in ("batch", "band_mean"):
        torch.manual_seed(1)
        model = build_model({"name": name, "channels": [4, 8], "input_norm": input_norm}, 3).eval()
        with torch.no_grad():
            outputs[input_norm] = (model(x), model(x + colouring))
    assert torch.allclose(*outputs["band_mean"], atol=1e-4)
    assert not torch.allclose(*outputs["batch"], atol=1e-3)
    with pytest.raises(ConfigError, match="input_norm"):
        build_model({"name": name, "input_norm": "per_clip"}, 3)
