"""ganzoo.nn, the plugin authors' toolkit: conv stacks sized from the data, label conditioning, norms and init."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ganzoo.errors import ConfigError, PluginError
from ganzoo.nn import (NORMS, ConvDecoder, ConvEncoder, LabelEmbedding, apply_spectral_norm, concat_one_hot,
                       conv_plan, init_dcgan_weights, norm_layer, one_hot_maps, resolve_norm)
from ganzoo.testing import check_model

SHAPES = [(1, 28, 28), (1, 32, 32), (3, 32, 32), (3, 64, 64)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_encoder_and_decoder_fit_the_image_shape(shape):
    decoder = ConvDecoder(8, shape, 4)
    encoder = ConvEncoder(shape, 4)
    images = decoder(torch.randn(2, 8))
    assert images.shape == (2, *shape)
    assert encoder(images).shape == (2, encoder.out_features)


def test_upsampling_decoder_and_extra_conv_encoder_fit_too():
    assert ConvDecoder(8, (3, 32, 32), 4, mode="upsample")(torch.randn(2, 8)).shape == (2, 3, 32, 32)
    encoder = ConvEncoder((1, 28, 28), 4, kernel=3, extra_conv=True)
    assert encoder(torch.zeros(2, 1, 28, 28)).shape == (2, encoder.out_features)


def test_bad_choices_name_what_is_allowed():
    with pytest.raises(ConfigError, match="choose one of batch, layer, spectral, none"):
        norm_layer("group", 4)
    with pytest.raises(ConfigError, match="'transposed' or 'upsample'"):
        ConvDecoder(8, (1, 28, 28), 4, mode="pixelshuffle")
    with pytest.raises(ConfigError, match="27"):
        conv_plan((1, 27, 27))


def test_auto_norm_is_batch_norm_unless_the_critic_is_penalised_per_sample():
    assert resolve_norm("auto", per_sample=False) == "batch"
    assert resolve_norm("auto", per_sample=True) == "layer"
    assert all(resolve_norm(norm, per_sample=True) == norm for norm in NORMS)


def test_spectral_choice_has_no_norm_layer_and_the_same_parameters_as_none():
    spectral, plain = ConvEncoder((1, 28, 28), 4, norm="spectral"), ConvEncoder((1, 28, 28), 4, norm="none")
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in spectral.modules())
    apply_spectral_norm(spectral)
    assert sum(p.numel() for p in spectral.parameters()) == sum(p.numel() for p in plain.parameters())
    convs = [m for m in spectral.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    with torch.no_grad():  # in training mode every forward pass takes one power-iteration step
        for _ in range(20):
            spectral(torch.randn(2, 1, 28, 28))
        sigma = torch.linalg.matrix_norm(convs[0].weight.flatten(1), ord=2).item()
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_initialising_after_spectral_norm_is_an_error_that_names_the_order():
    network = apply_spectral_norm(nn.Sequential(nn.Linear(4, 4)))
    with pytest.raises(PluginError, match="call init_dcgan_weights before apply_spectral_norm"):
        network.apply(init_dcgan_weights)


def test_dcgan_init_draws_weights_around_their_centre():
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(3, 64, 4), nn.BatchNorm2d(64))
    network.apply(init_dcgan_weights)
    conv, norm = network
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.1) and not conv.bias.any()
    assert norm.weight.mean().item() == pytest.approx(1.0, abs=0.01) and not norm.bias.any()


def test_label_conditioning_helpers():
    labels = torch.tensor([0, 2])
    joined = concat_one_hot(torch.zeros(2, 3), labels, 4)
    assert joined.tolist() == [[0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1, 0]]
    assert concat_one_hot(torch.zeros(2, 3), None, 4).shape == (2, 3)
    maps = one_hot_maps(labels, 4, 5, 6)
    assert maps.shape == (2, 4, 5, 6) and maps[1, 2].eq(1).all() and maps[1, 1].eq(0).all()


def test_label_embedding_draws_and_scales_like_torch_embedding():
    torch.manual_seed(0)
    reference = nn.Embedding(10, 8)
    torch.manual_seed(0)
    embed = LabelEmbedding(10, 8)
    assert torch.equal(embed.weight, reference.weight) and list(embed.state_dict()) == ["weight"]
    z, labels = torch.randn(3, 8), torch.tensor([1, 5, 9])
    assert torch.equal(embed(z, labels), reference(labels) * z)


@pytest.mark.parametrize("name, extra", [("dcgan", {}), ("acgan", {}), ("cgan", {"arch": "conv"})])
def test_built_in_critics_can_be_spectrally_normalised(name, extra):
    hparams = {"g_channels": 4, "d_channels": 4, "latent_dim": 8, "d_norm": "spectral", **extra}
    check_model(name, [(1, 28, 28)], hparams=hparams, train_steps=1)
