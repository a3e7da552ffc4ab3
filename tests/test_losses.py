"""Adversarial losses registered through the register_losses hook: the built-ins' formulas, third-party losses."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import ganzoo
from ganzoo import registry
from ganzoo.cli import main
from ganzoo.errors import ConfigError, UnknownNameError
from ganzoo.losses import AdversarialLoss, create_loss, list_losses, loss_class
from ganzoo.registry import Registered
from ganzoo.testing import tiny_batch

TINY_DCGAN = {"g_channels": 4, "d_channels": 4, "latent_dim": 8}


class Softplus(AdversarialLoss):
    """A third party's loss: softplus, with a scale to show that a loss brings its own hyperparameters."""

    name = "softplus"
    defaults = {"scale": 1.0}

    def d_loss(self, real_logits, fake_logits):
        return self.hp.scale * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())

    def g_loss(self, fake_logits):
        return self.hp.scale * F.softplus(-fake_logits).mean()


class LossPlugin:
    """A plugin object that registers what it is given through register_losses."""

    def __init__(self, *classes):
        self.classes = classes

    @ganzoo.hookimpl
    def register_losses(self, register):
        for cls in self.classes:
            register(cls)


@pytest.fixture
def plugin():
    """Register a loss plugin in-process for one test (unregistered afterwards)."""
    host = registry.host()
    names = []

    def add(*classes, name="loss-plugin"):
        host.register_plugin(LossPlugin(*classes), name=name)
        names.append(name)
        return host.plugins[name]

    yield add
    for name in names:
        host.unregister_plugin(name)


def logits(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, generator=g), torch.randn(8, generator=g)


def test_the_built_in_losses_are_registered_by_the_built_in_plugin():
    assert list_losses() == ["bce", "hinge", "least-squares", "wgan-gp"]
    assert all(loss_class(n).__module__ == "ganzoo_builtin.losses" for n in list_losses())
    assert registry.host().plugins["losses"].hooks == ["register_losses"]


def test_bce_is_the_non_saturating_loss_with_smoothed_real_targets():
    real, fake = logits()
    bce = create_loss("bce", {"label_smoothing": 0.1, "lr_g": 1e-3})  # a model's other keys are ignored
    expected = -(0.9 * F.logsigmoid(real) + 0.1 * F.logsigmoid(-real)).mean() - F.logsigmoid(-fake).mean()
    assert bce.d_loss(real, fake).item() == pytest.approx(expected.item(), rel=1e-5)
    assert bce.g_loss(fake).item() == pytest.approx(-F.logsigmoid(fake).mean().item(), rel=1e-5)


def test_label_noise_flips_that_share_of_the_real_targets_to_zero():
    real = torch.full((10_000,), 20.0)  # confident: each flipped target costs ≈ 20, each kept one ≈ 0
    torch.manual_seed(0)
    loss = create_loss("bce", {"label_noise": 0.2}).d_loss(real, torch.full((10_000,), -20.0))
    assert loss.item() / 20 == pytest.approx(0.2, abs=0.02)


def test_wgan_gp_is_the_critic_difference_plus_lambda_10_times_the_penalty():
    real, fake = logits()
    wgan = create_loss("wgan-gp")
    assert wgan.hp.gp_weight == 10.0 and wgan.per_sample_critic
    assert wgan.d_loss(real, fake).item() == pytest.approx((fake.mean() - real.mean()).item())
    assert wgan.g_loss(fake).item() == pytest.approx(-fake.mean().item())
    images = torch.randn(4, 1, 4, 4)
    term, logs = wgan.penalty(lambda x: 3 * x.flatten(1).sum(1), images, -images)  # ‖∇‖ = 3·4 everywhere
    assert logs["gp"].item() == pytest.approx(11.0 ** 2) and term.item() == pytest.approx(10 * 11.0 ** 2)
    assert create_loss("wgan-gp", {"gp_weight": 0.0}).penalty(lambda x: x.sum(), images, images) is None


def test_hinge_loss():
    real, fake = logits()
    hinge = create_loss("hinge")
    expected = torch.clamp(1 - real, min=0).mean() + torch.clamp(1 + fake, min=0).mean()
    assert hinge.d_loss(real, fake).item() == pytest.approx(expected.item())
    assert hinge.g_loss(fake).item() == pytest.approx(-fake.mean().item())
    assert hinge.penalty(lambda x: x, real, fake) is None


def test_a_model_passes_its_hyperparameters_to_its_loss():
    model = ganzoo.create_model("dcgan", loss="wgan-gp", gp_weight=5.0, **TINY_DCGAN)
    assert type(model.gan_loss) is loss_class("wgan-gp") and model.gan_loss.hp.gp_weight == 5.0


def test_a_third_party_loss_registered_in_process_is_usable_by_name(plugin):
    info = plugin(Softplus)
    assert info.hooks == ["register_losses"] and info.errors == []
    assert "softplus" in list_losses() and "softplus" in Registered("losses")
    model = ganzoo.create_model("dcgan", loss="softplus", **TINY_DCGAN)
    assert isinstance(model.gan_loss, Softplus) and model.gan_loss.hp.scale == 1.0
    out = model.train_step(tiny_batch((1, 28, 28)), step=0)
    real, fake = logits()
    assert model.gan_loss.g_loss(fake).item() == pytest.approx(F.softplus(-fake).mean().item())
    assert {"d_loss", "g_loss"} <= set(out) and "gp" not in out


def test_ganzoo_plugins_lists_the_losses_hook(plugin, capsys):
    plugin(Softplus, name="softplus-plugin")
    assert main(["plugins", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["softplus-plugin"]["hooks"] == ["register_losses"]


def test_an_unknown_loss_suggests_the_closest_name():
    with pytest.raises(ConfigError, match=r"'hnge' is not allowed; it must be one of 'bce', 'hinge', "
                                          r"'least-squares', 'wgan-gp'. "
                                          r"Did you mean 'hinge'\?"):
        ganzoo.create_model("dcgan", loss="hnge")
    with pytest.raises(UnknownNameError, match=r"Unknown loss 'hnge'. Did you mean 'hinge'\? Registered losses: "
                                               r"bce, hinge, least-squares, wgan-gp."):
        ganzoo.model_class("dcgan")({"loss": "hnge", **TINY_DCGAN})


def test_a_loss_rejects_hyperparameters_it_does_not_have():
    with pytest.raises(ConfigError, match="loss 'hinge' has no hyperparameter 'gp_weight'"):
        loss_class("hinge")(gp_weight=1.0)


class NotALoss:
    name = "not-a-loss"


class Nameless(Softplus):
    name = ""


def test_bad_loss_registrations_are_reported_and_skipped(plugin):
    info = plugin(NotALoss, Nameless, loss_class("bce"))
    assert list_losses() == ["bce", "hinge", "least-squares", "wgan-gp"]  # the registry is filled when first asked
    assert "register() expects a ganzoo.losses.AdversarialLoss subclass" in info.errors[0]
    assert "Nameless has no 'name'" in info.errors[1]
    assert "loss 'bce' is already registered by plugin 'losses'" in info.errors[2]
    assert loss_class("bce").__module__ == "ganzoo_builtin.losses"
