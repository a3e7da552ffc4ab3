"""The shared GAN step (``AdversarialModel.train_step``): what it runs per step, whatever the model."""
from __future__ import annotations

import pytest
import torch

import ganzoo
from ganzoo.testing import tiny_batch

GANS = ["gan", "cgan", "acgan", "dcgan"]


def _count_forwards(module: torch.nn.Module) -> list[bool]:
    """Record, per forward call of ``module``, whether it built a graph."""
    calls: list[bool] = []
    module.register_forward_hook(lambda m, i, o: calls.append(torch.is_grad_enabled()))
    return calls


@pytest.mark.parametrize("name", GANS)
def test_the_generator_runs_once_per_step(name):
    torch.manual_seed(0)
    model = ganzoo.create_model(name, batch_size=8)
    calls = _count_forwards(model.G)
    batch = tiny_batch(model.image_shape, n=8)
    for step in range(3):
        model.train_step(batch, step)
    assert calls == [True] * 3


def test_with_several_critic_steps_the_generator_builds_a_graph_only_when_it_learns():
    torch.manual_seed(0)
    model = ganzoo.create_model("dcgan", batch_size=8, critic_steps=3)
    calls = _count_forwards(model.G)
    batch = tiny_batch(model.image_shape, n=8)
    g_losses = ["g_loss" in model.train_step(batch, step) for step in range(6)]
    assert calls == [True, False, False, True, False, False]
    assert g_losses == calls


@pytest.mark.parametrize("name", GANS)
def test_the_generator_update_scores_the_fakes_the_critic_learned_from(name):
    """The G update reuses the D update's fake batch: its loss is D's loss on those very images after D's step."""
    torch.manual_seed(0)
    model = ganzoo.create_model(name, batch_size=8)
    seen: list[torch.Tensor] = []
    generate = model.generate
    model.generate = lambda z, labels: seen.append(generate(z, labels)) or seen[-1]
    scored: list[torch.Tensor] = []
    loss = model.generator_loss
    model.generator_loss = lambda fake, labels: scored.append(fake) or loss(fake, labels)
    model.train_step(tiny_batch(model.image_shape, n=8), 0)
    assert len(seen) == 1 and len(scored) == 1 and scored[0] is seen[0]
