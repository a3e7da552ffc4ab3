"""Discriminator regularisers (R1, LeCam, a plugin's own) and DiffAugment inside the shared GAN step."""
from __future__ import annotations

import pytest
import torch

import ganzoo
from ganzoo import registry
from ganzoo.errors import ConfigError
from ganzoo.regularizers import Regularizer, create_regularizer, list_regularizers
from ganzoo.testing import tiny_batch

TINY = {"g_channels": 8, "d_channels": 8, "batch_size": 8}


def test_the_built_in_regularizers_are_registered():
    assert {"r1", "lecam"} <= set(list_regularizers())


def test_r1_is_lazy_and_weighted_by_its_interval():
    r1 = create_regularizer("r1", {"r1_gamma": 2.0, "r1_every": 3})
    w = torch.tensor([1.0, -2.0])
    critic = lambda x: (x.flatten(1) * w).sum(1) ** 2  # noqa: E731  ∇ = 2·(x·w)·w
    real = torch.tensor([[1.0, 1.0], [0.5, 0.0]])
    out = [r1.d_term(critic, real, real, critic(real), critic(real)) for _ in range(4)]
    assert [o is not None for o in out] == [True, False, False, True]
    grads = 2 * (real @ w)[:, None] * w
    expected = grads.pow(2).sum(1).mean()
    term, logs = out[0]
    assert logs["r1"].item() == pytest.approx(expected.item())
    assert term.item() == pytest.approx(3 * 2.0 / 2 * expected.item())
    assert int(r1.calls) == 4


def test_lecam_pulls_towards_the_moving_averages_of_the_other_side():
    lecam = create_regularizer("lecam", {"lecam_weight": 0.5, "lecam_decay": 0.9})
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([-1.0, 1.0])
    term, logs = lecam.d_term(None, None, None, real, fake)
    # averages start at 0: relu(real − 0)² + relu(0 − fake)²
    assert logs["lecam"].item() == pytest.approx((4 + 16) / 2 + (1 + 0) / 2)
    assert term.item() == pytest.approx(0.5 * logs["lecam"].item())
    assert lecam.real_mean.item() == pytest.approx(0.1 * 3.0) and lecam.fake_mean.item() == pytest.approx(0.0)


@pytest.mark.parametrize("name", ["gan", "cgan", "acgan", "dcgan"])
def test_a_model_adds_the_terms_it_lists_and_saves_their_state(name):
    torch.manual_seed(0)
    model = ganzoo.create_model(name, regularizers=["r1", "lecam"], r1_every=2, batch_size=8)
    batch = tiny_batch(model.image_shape, n=8)
    logs = [model.train_step(batch, step) for step in range(3)]
    assert ["r1" in out for out in logs] == [True, False, True] and all("lecam" in out for out in logs)
    state = model.training_state()["networks"]
    assert int(state["regularizers.r1.calls"]) == 3 and "regularizers.lecam.real_mean" in state
    assert "regularizers" not in model.networks()


class Drift(Regularizer):
    """A third party's regulariser: the drift penalty of Karras 2018, E[D(x)²]."""

    name = "drift"
    defaults = {"drift_weight": 1e-3}

    def d_term(self, critic, real, fake, real_logits, fake_logits):
        term = real_logits.float().pow(2).mean()
        return self.hp.drift_weight * term, {"drift": term.detach()}


class RegularizerPlugin:
    @ganzoo.hookimpl
    def register_regularizers(self, register):
        register(Drift)


def test_a_third_party_regularizer_is_usable_by_name():
    host = registry.host()
    host.register_plugin(RegularizerPlugin(), name="drift-plugin")
    try:
        assert "drift" in list_regularizers()
        model = ganzoo.create_model("dcgan", regularizers=["drift"], **TINY)
        assert "drift" in model.train_step(tiny_batch(model.image_shape, n=8), 0)
    finally:
        host.unregister_plugin("drift-plugin")


@pytest.mark.parametrize("hparams, words", [
    ({"regularizers": ["r2"]}, ["regularizers[0]", "'r1'"]),
    ({"regularizers": "r1"}, ["regularizers", "list"]),
    ({"r1_every": 0}, ["r1_every"]),
    ({"lecam_decay": 1.0}, ["lecam_decay", "[0, 1)"]),
    ({"augment": "translaton"}, ["augment", "translation"]),
    ({"augment": "cutout,cutout"}, ["augment"]),
])
def test_bad_values_are_config_errors_naming_the_key(hparams, words):
    with pytest.raises(ConfigError) as err:
        ganzoo.create_model("dcgan", **hparams)
    assert all(w in str(err.value) for w in words), str(err.value)


def _inputs_of(module: torch.nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    return seen


@pytest.mark.parametrize("name", ["dcgan", "acgan"])
def test_with_augment_the_discriminator_sees_only_augmented_images(name):
    """Cutout zeros a square in each image: every batch D sees (real, fake, the penalty's, G's) has one."""
    torch.manual_seed(0)
    model = ganzoo.create_model(name, augment="cutout", loss="wgan-gp", d_norm="layer", batch_size=8)
    seen = _inputs_of(model.D)
    batch = tiny_batch(model.image_shape, n=8)
    batch = batch._replace(images=torch.ones_like(batch.images) * 0.5)
    model.train_step(batch, 0)
    assert len(seen) == 4  # real, fake, the penalty's interpolates, the generator's update
    for images in seen:
        zero_share = (images == 0).flatten(1).float().mean(1)
        assert (zero_share >= 0.06).all(), zero_share  # at least a quarter of the square (one clipped at a corner)


def test_without_augment_the_discriminator_sees_the_images_as_they_are():
    model = ganzoo.create_model("dcgan", **TINY)
    seen = _inputs_of(model.D)
    batch = tiny_batch(model.image_shape, n=8)
    model.train_step(batch, 0)
    assert torch.equal(seen[0], batch.images)
