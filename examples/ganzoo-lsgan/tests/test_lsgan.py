"""ganzoo-lsgan's own tests: the ganzoo conformance check, registration, and the least-squares loss itself."""
from __future__ import annotations

import pytest
import torch

import ganzoo
from ganzoo.losses import loss_class
from ganzoo.testing import check_model, tiny_batch
from ganzoo_lsgan import LSGAN, LeastSquaresLoss

TINY = {"width": 4, "latent_dim": 8}


def test_conforms_to_the_ganzoo_model_contract():
    check_model(LSGAN, image_shapes=[(1, 28, 28), (3, 32, 32)], hparams=TINY)


def test_registered_through_the_entry_point():
    assert "lsgan" in ganzoo.list_models()
    assert ganzoo.model_class("lsgan") is LSGAN
    assert loss_class("lsgan") is LeastSquaresLoss


@pytest.mark.parametrize("shape", [(1, 32, 32), (3, 64, 64), (3, 20, 24)])
def test_sample_shapes_follow_the_data(shape):
    model = LSGAN(TINY, image_shape=shape)
    assert model.sample(2).shape == (2, *shape)


def test_losses_are_the_least_squares_ones():
    model = LSGAN(TINY, image_shape=(1, 16, 16))
    real = tiny_batch((1, 16, 16), 4).images
    with torch.no_grad():
        fake = model.G(torch.randn(4, TINY["latent_dim"]))
        loss, logs = model.discriminator_loss(real, fake, None)
        r, f = model.discriminate(real, None), model.discriminate(fake, None)
        assert loss == pytest.approx(float(0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean()), rel=1e-5)
        assert model.generator_loss(fake, None) == pytest.approx(float(0.5 * ((f - 1) ** 2).mean()), rel=1e-5)
        assert logs["d_real"] == pytest.approx(float(r.mean()), rel=1e-5)


def test_target_codes_are_hyperparameters():
    model = ganzoo.create_model("lsgan", image_shape=(1, 16, 16), target_fake=-1.0, target_gen=0.0, **TINY)
    fake = torch.zeros(3, 1, 16, 16)
    with torch.no_grad():
        f = model.discriminate(fake, None)
        assert model.generator_loss(fake, None) == pytest.approx(float(0.5 * (f ** 2).mean()), rel=1e-5)


def test_any_gan_can_use_the_least_squares_loss():
    model = ganzoo.create_model("dcgan", image_shape=(1, 16, 16), loss="lsgan", g_channels=4, d_channels=4)
    assert isinstance(model.gan_loss, LeastSquaresLoss)
    assert model.gan_loss.hp.target_gen == 1.0  # dcgan declares no target codes: the loss's defaults apply
    check_model(model.__class__, image_shapes=[(1, 16, 16)], hparams={"loss": "lsgan", "g_channels": 4,
                                                                       "d_channels": 4, "latent_dim": 8})


def test_a_target_code_out_of_range_is_a_config_error():
    with pytest.raises(ganzoo.ConfigError, match="target_real"):
        ganzoo.create_model("lsgan", target_real=100.0)
