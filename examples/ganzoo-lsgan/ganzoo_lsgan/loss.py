"""The least-squares GAN loss (Mao et al. 2017), registered as ``lsgan`` for any ganzoo GAN to use.

The discriminator outputs an unbounded score and both players minimise squared errors to target codes:

    D: ½·E[(D(x) − b)²] + ½·E[(D(G(z)) − a)²]        G: ½·E[(D(G(z)) − c)²]

with a = 0, b = c = 1 by default (the paper's 0-1 coding; a = −1, b = 1, c = 0 is its Pearson χ² choice).
"""
from __future__ import annotations

import torch

from ganzoo import Range
from ganzoo.losses import AdversarialLoss


class LeastSquaresLoss(AdversarialLoss):
    """Least-squares loss (Mao 2017): squared distances of the scores to the target codes a, b and c."""

    name = "lsgan"
    defaults = {
        "target_fake": 0.0,    # a: D's target for generated images
        "target_real": 1.0,    # b: D's target for real images
        "target_gen": 1.0,     # c: the target G wants D to give its images
    }
    choices = {"target_fake": Range(-10, 10), "target_real": Range(-10, 10), "target_gen": Range(-10, 10)}

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """½·E[(D(x) − b)²] + ½·E[(D(G(z)) − a)²]."""
        return (0.5 * ((real_logits - self.hp.target_real) ** 2).mean()
                + 0.5 * ((fake_logits - self.hp.target_fake) ** 2).mean())

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """½·E[(D(G(z)) − c)²]."""
        return 0.5 * ((fake_logits - self.hp.target_gen) ** 2).mean()
