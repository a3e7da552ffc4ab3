"""Every registered model at four image shapes, the shared GAN losses, the built-ins' designs and config errors."""
from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo.adversarial import AdversarialModel
from ganzoo.config import Zoo
from ganzoo.errors import ConfigError
from ganzoo.model import Range
from ganzoo.nn import LabelEmbedding
from ganzoo.testing import check_model, tiny_batch

SHAPES = [(1, 28, 28), (1, 32, 32), (3, 32, 32), (3, 64, 64)]
MODELS = ganzoo.list_models()
GANS = [name for name in MODELS if issubclass(ganzoo.model_class(name), AdversarialModel)]  # the shared GAN step
LOSSES = ("bce", "wgan-gp", "hinge", "least-squares")


def tiny(name: str, **extra: Any) -> dict[str, Any]:
    """Overrides that shrink a model's networks: widths and channel counts to a few units, a small latent."""
    out: dict[str, Any] = {}
    for key, value in ganzoo.model_class(name).defaults.items():
        if ("width" in key or "channels" in key) and isinstance(value, list):
            out[key] = [16] * len(value)
        elif ("width" in key or "channels" in key) and isinstance(value, int) and not isinstance(value, bool):
            out[key] = 4
        elif key == "latent_dim":
            out[key] = 8
    return {**out, **extra}


def build(name: str, shape: tuple[int, int, int] = (1, 28, 28), **overrides: Any) -> ganzoo.GenerativeModel:
    torch.manual_seed(0)
    return ganzoo.create_model(name, image_shape=shape, **tiny(name, **overrides))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", MODELS)
def test_model_meets_the_contract_at_every_shape(name: str, shape: tuple[int, int, int]) -> None:
    """Build; sample shape and range; finite losses that change every network; save/restore; labels respected."""
    report = check_model(name, [shape], hparams=tiny(name), train_steps=1)
    expected = {"sample", "train_step", "save_restore"} | ({"labels"} if ganzoo.model_class(name).conditional else set())
    assert expected <= set(report.passed[shape])


def test_the_five_built_in_models_are_registered() -> None:
    assert {"gan", "cgan", "acgan", "dcgan", "vae"} <= set(MODELS)
    assert {name: ganzoo.model_class(name).conditional for name in ("cgan", "acgan", "dcgan", "vae")} == {
        "cgan": True, "acgan": True, "dcgan": False, "vae": False}
    assert ganzoo.model_class("vae").family == "vae"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_convolutional_cgan_meets_the_contract(shape: tuple[int, int, int]) -> None:
    check_model("cgan", [shape], hparams=tiny("cgan", arch="conv"), train_steps=1)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("name", GANS)
def test_every_shared_loss_trains_every_gan(name: str, loss: str) -> None:
    model = build(name, loss=loss, label_smoothing=0.1, label_noise=0.1)
    out = model.train_step(tiny_batch((1, 28, 28), n=4), step=0)
    assert {"d_loss", "g_loss"} <= set(out)
    assert all(math.isfinite(float(v)) for v in out.values())
    assert ("gp" in out) == (loss == "wgan-gp")


def test_wgan_gp_critics_use_layer_norm_instead_of_batch_norm() -> None:
    for name in ("dcgan", "acgan"):
        batch = build(name, loss="bce")
        critic = build(name, loss="wgan-gp")
        assert any(isinstance(m, nn.BatchNorm2d) for m in batch.D.modules())
        assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.D.modules())
        assert any(isinstance(m, nn.GroupNorm) for m in critic.D.modules())


@pytest.mark.parametrize("name", MODELS)
def test_an_unknown_hyperparameter_is_a_config_error_naming_it(name: str) -> None:
    with pytest.raises(ConfigError, match="no_such_key"):
        ganzoo.create_model(name, no_such_key=1)


@pytest.mark.parametrize("name", MODELS)
def test_a_wrongly_typed_hyperparameter_is_a_config_error_naming_it(name: str) -> None:
    defaults = ganzoo.model_class(name).defaults
    key = next(k for k, v in defaults.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    with pytest.raises(ConfigError, match=key):
        ganzoo.create_model(name, **{key: "fast"})


@pytest.mark.parametrize("name", MODELS)
def test_an_out_of_range_hyperparameter_is_a_config_error_naming_it(name: str) -> None:
    choices = ganzoo.model_class(name).choices
    key, allowed = next((k, r) for k, r in choices.items() if isinstance(r, Range) and r.high is not None)
    with pytest.raises(ConfigError, match=key):
        ganzoo.create_model(name, **{key: allowed.high * 10 + 1})


@pytest.mark.parametrize("name", [n for n in ("acgan", "cgan", "dcgan", "vae") if n in MODELS])
def test_a_choice_outside_its_options_is_a_config_error(name: str) -> None:
    key = next(k for k, v in ganzoo.model_class(name).choices.items() if isinstance(v, tuple))
    with pytest.raises(ConfigError, match=key):
        ganzoo.create_model(name, **{key: "no-such-option"})


def test_conv_stacks_take_their_stages_from_the_image_size() -> None:
    from ganzoo.nn import conv_plan

    assert conv_plan((1, 28, 28)) == (2, (7, 7))
    assert conv_plan((1, 32, 32)) == (3, (4, 4))
    assert conv_plan((3, 64, 64)) == (4, (4, 4))
    assert conv_plan((3, 32, 64)) == (3, (4, 8))
    with pytest.raises(ConfigError, match="27"):
        conv_plan((1, 27, 27))


@pytest.mark.parametrize("name", ["acgan", "dcgan", "vae"])
def test_convolutional_models_reject_sizes_they_cannot_halve(name: str) -> None:
    with pytest.raises(ConfigError, match="cannot be halved"):
        ganzoo.create_model(name, image_shape=(1, 27, 27))


def test_dcgan_plugin_defaults_follow_the_paper() -> None:
    model = ganzoo.create_model("dcgan", zoo=Zoo({}))  # the plugin's own defaults, without zoo.yaml's tuning
    assert model.hp.loss == "bce"
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.G.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.D.modules())
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert any(isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2) for m in model.G.modules())
    assert all(m.stride == (2, 2) for m in convs)  # no pooling: strided convolutions only
    assert abs(torch.cat([m.weight.flatten() for m in convs]).std().item() - 0.02) < 0.003
    assert any(isinstance(m, nn.ReLU) for m in model.G.modules())
    assert isinstance(model.G[-1], nn.Tanh)
    assert [m.negative_slope for m in model.D.modules() if isinstance(m, nn.LeakyReLU)] == [0.2, 0.2]
    for opt in model.optimizers.values():
        assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"][0] == 0.5


def test_cgan_joins_the_one_hot_label_to_both_networks() -> None:
    mlp = ganzoo.create_model("cgan", arch="mlp", g_widths=[8], d_widths=[8])
    assert mlp.G[0][0].in_features == mlp.hp.latent_dim + 10
    assert mlp.D[0].in_features == 28 * 28 + 10
    conv = ganzoo.create_model("cgan", arch="conv", g_channels=4, d_channels=4)
    first_conv = next(m for m in conv.D.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 1 + 10  # the image plus one constant channel per class


def test_cgan_discriminator_sees_the_label() -> None:
    images = tiny_batch((1, 28, 28), n=4).images
    zeros, ones = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    for arch in ("mlp", "conv"):
        model = build("cgan", arch=arch).eval()
        assert not torch.equal(model.discriminate(images, zeros), model.discriminate(images, ones))


def test_acgan_discriminator_predicts_the_class_from_the_image_alone() -> None:
    model = build("acgan")
    validity, classes = model.D(tiny_batch((1, 28, 28), n=4).images)
    assert validity.shape == (4,) and classes.shape == (4, 10)
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax, nn.Sigmoid)) for m in model.D.modules())
    assert isinstance(model.G.embed, LabelEmbedding) and model.G.embed.weight.shape == (10, model.hp.latent_dim)


@pytest.mark.parametrize("on_fake", [False, True])
def test_acgan_trains_the_class_head_on_fake_images_only_when_asked(on_fake: bool) -> None:
    model = build("acgan", class_loss_on_fake=on_fake, d_dropout=0.0, d_norm="none")  # deterministic D
    real, labels = tiny_batch((1, 28, 28), n=4)
    fake = model.generate(model.noise(4, model.hp.latent_dim), labels).detach()
    _, logs = model.discriminator_loss(real, fake, labels)
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model.D(real)[1], labels)
        if on_fake:
            expected = expected + nn.functional.cross_entropy(model.D(fake)[1], labels)
    assert torch.isclose(logs["d_class"], expected)
    assert 0.0 <= logs["d_class_acc"].item() <= 1.0


def test_vae_loss_is_reconstruction_plus_weighted_kl() -> None:
    model = build("vae", kl_weight=0.5)
    out = model.train_step(tiny_batch((1, 28, 28), n=4), step=0)
    assert set(out) == {"loss", "recon", "kl"}
    assert out["kl"] >= 0
    assert torch.isclose(out["loss"], out["recon"] + 0.5 * out["kl"])


@pytest.mark.parametrize("recon_loss", ["bce", "mse"])
def test_vae_reconstructs_and_samples_images_in_range(recon_loss: str) -> None:
    model = build("vae", (3, 32, 32), recon_loss=recon_loss)
    images = tiny_batch((3, 32, 32), n=3).images
    for out in (model.reconstruct(images), model.sample(3)):
        assert out.shape == (3, 3, 32, 32)
        assert out.min() >= -1 and out.max() <= 1
    assert model.training
