"""The shared adversarial losses: non-saturating BCE (with label smoothing and noise), WGAN-GP, hinge, least squares."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from ganzoo import hookimpl
from ganzoo.losses import AdversarialLoss, gradient_penalty, real_targets
from ganzoo.model import Range


class BCELoss(AdversarialLoss):
    """Non-saturating binary cross-entropy (Goodfellow 2014) with one-sided label smoothing and label noise."""

    name = "bce"
    defaults = {"label_smoothing": 0.0, "label_noise": 0.0}
    choices = {"label_smoothing": Range(0, 0.5), "label_noise": Range(0, 0.5)}

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """BCE(D(x), 1 − smoothing, a ``label_noise`` share flipped to 0) + BCE(D(G(z)), 0)."""
        targets = real_targets(real_logits.size(0), self.hp.label_smoothing, self.hp.label_noise,
                               real_logits.device, real_logits.dtype)
        return (F.binary_cross_entropy_with_logits(real_logits, targets)
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """BCE(D(G(z)), 1): the generator maximises log D(G(z))."""
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class WGANGPLoss(AdversarialLoss):
    """Wasserstein critic with gradient penalty (Gulrajani 2017), weight ``gp_weight`` (λ = 10)."""

    name = "wgan-gp"
    defaults = {"gp_weight": 10.0}
    choices = {"gp_weight": Range(0, 1e6)}
    per_sample_critic = True

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """mean(D(G(z))) − mean(D(x)); the gradient penalty is added by :meth:`penalty`."""
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """−mean(D(G(z)))."""
        return -fake_logits.mean()

    def penalty(self, critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]] | None:
        """``gp_weight`` · E[(‖∇ D(x̂)‖₂ − 1)²], logged unweighted as ``gp``; none when ``gp_weight`` is 0."""
        if self.hp.gp_weight <= 0:
            return None
        gp = gradient_penalty(critic, real, fake)
        return self.hp.gp_weight * gp, {"gp": gp.detach()}


class HingeLoss(AdversarialLoss):
    """Hinge loss (Lim & Ye 2017; Miyato 2018, with spectral norm)."""

    name = "hinge"

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """mean(max(0, 1 − D(x))) + mean(max(0, 1 + D(G(z))))."""
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """−mean(D(G(z)))."""
        return -fake_logits.mean()


class LSGANLoss(AdversarialLoss):
    """Least squares, LSGAN's 0-1-1 codes (Mao et al. 2017; CycleGAN's loss): D regresses real to 1 and fake to 0, G
    pushes fakes to 1. (The example plugin ganzoo-lsgan registers ``lsgan`` with settable codes.)"""

    name = "least-squares"

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """½·mean((D(x) − 1)²) + ½·mean(D(G(z))²) (the ½ as in CycleGAN, which halves D's objective)."""
        return 0.5 * ((real_logits - 1.0).pow(2).mean() + fake_logits.pow(2).mean())

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """mean((D(G(z)) − 1)²)."""
        return (fake_logits - 1.0).pow(2).mean()


@hookimpl
def register_losses(register: Callable[..., Any]) -> None:
    """Register the shared losses: bce, wgan-gp, hinge and least-squares."""
    register(BCELoss)
    register(WGANGPLoss)
    register(HingeLoss)
    register(LSGANLoss)
