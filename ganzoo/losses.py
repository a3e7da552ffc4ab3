"""Adversarial losses any GAN plugin can choose by name: non-saturating BCE, WGAN-GP and hinge."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class GANLoss:
    """A pair of discriminator and generator losses over discriminator logits."""

    name: str
    #: d_loss(real_logits, fake_logits, real_targets) -> scalar
    discriminator: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    #: g_loss(fake_logits) -> scalar
    generator: Callable[[torch.Tensor], torch.Tensor]
    #: True when the critic needs the gradient penalty (WGAN-GP).
    gradient_penalty: bool = False
    #: True when the real targets (label smoothing / noise) are used by the loss.
    uses_targets: bool = False


def _bce_d(real: torch.Tensor, fake: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (F.binary_cross_entropy_with_logits(real, targets)
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def _bce_g(fake: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def _wgan_d(real: torch.Tensor, fake: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return fake.mean() - real.mean()


def _hinge_d(real: torch.Tensor, fake: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def _mean_neg(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


#: The shared losses, by the name a model's ``loss`` hyperparameter takes.
LOSSES: dict[str, GANLoss] = {
    "bce": GANLoss("bce", _bce_d, _bce_g, uses_targets=True),
    "wgan-gp": GANLoss("wgan-gp", _wgan_d, _mean_neg, gradient_penalty=True),
    "hinge": GANLoss("hinge", _hinge_d, _mean_neg),
}


def get_loss(name: str) -> GANLoss:
    """The shared loss ``name`` (one of :data:`LOSSES`)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of {', '.join(LOSSES)}") from None


def real_targets(n: int, smoothing: float, noise: float, device: torch.device,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Targets for real samples: ``1 - smoothing`` (one-sided label smoothing), a ``noise`` share flipped to 0."""
    targets = torch.full((n,), 1.0 - smoothing, device=device, dtype=dtype)
    if noise > 0:
        flip = torch.rand(n, device=device) < noise
        targets = torch.where(flip, torch.zeros_like(targets), targets)
    return targets


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty E[(‖∇ critic(x̂)‖₂ − 1)²] on random interpolates x̂ of real and fake images."""
    alpha = torch.rand(real.size(0), *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grads,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
