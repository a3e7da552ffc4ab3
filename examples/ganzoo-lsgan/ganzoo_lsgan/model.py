"""LSGAN (Mao et al., "Least Squares Generative Adversarial Networks", 2017) on DCGAN-style networks.

The discriminator outputs an unbounded score and both players minimise squared errors to target codes:

    D: ½·E[(D(x) − b)²] + ½·E[(D(G(z)) − a)²]        G: ½·E[(D(G(z)) − c)²]

with a = 0, b = c = 1 by default (the paper's 0-1 coding; a = −1, b = 1, c = 0 is its Pearson χ² choice).
Built only on ganzoo's public API: :class:`ganzoo.adversarial.AdversarialModel` supplies the training step
(one D update, one G update), the Adam optimizers, sampling and checkpoints; this module supplies the networks
and the loss.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganzoo import Range
from ganzoo.adversarial import AdversarialModel
from ganzoo.nn import ConvDecoder, ConvEncoder, init_dcgan_weights

# The shared GAN settings that apply here: LSGAN brings its own loss, so the shared `loss`, `gp_weight`,
# `label_smoothing` and `label_noise` are left out (zoo.yaml and --set then reject them for lsgan).
_SHARED = ("latent_dim", "batch_size", "lr_g", "lr_d", "beta1", "beta2", "critic_steps")


class LSGAN(AdversarialModel):
    """LSGAN (Mao 2017): DCGAN-style networks trained with least-squares losses."""

    name = "lsgan"
    description = "LSGAN (Mao 2017): DCGAN-style networks, least-squares loss (third-party example plugin)"
    defaults: dict[str, Any] = {
        **{k: AdversarialModel.defaults[k] for k in _SHARED},
        "width": 64,           # channels of the discriminator's first and the generator's last conv
        "target_fake": 0.0,    # a: D's target for generated images
        "target_real": 1.0,    # b: D's target for real images
        "target_gen": 1.0,     # c: the target G wants D to give its images
    }
    choices: dict[str, Any] = {
        **{k: AdversarialModel.choices[k] for k in _SHARED},
        "width": Range(1, 1024),
        "target_fake": Range(-10, 10),
        "target_real": Range(-10, 10),
        "target_gen": Range(-10, 10),
    }

    def __init__(self, hparams: dict[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        super().__init__(hparams, image_shape, num_classes)
        self.G = nn.Sequential(ConvDecoder(self.hp.latent_dim, self.image_shape, self.hp.width), nn.Tanh())
        encoder = ConvEncoder(self.image_shape, self.hp.width)
        self.D = nn.Sequential(encoder, nn.Linear(encoder.out_features, 1))
        self.apply(init_dcgan_weights)
        self.build_optimizers()

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Noise → images in [-1, 1] (LSGAN is unconditional: labels are ignored)."""
        return self.G(z)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images → unbounded scores ``(N,)``."""
        return self.D(images).squeeze(1)

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None
                           ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """½·E[(D(x) − b)²] + ½·E[(D(G(z)) − a)²], plus the mean scores for the log."""
        real_scores, fake_scores = self.discriminate(real, labels), self.discriminate(fake, labels)
        loss = 0.5 * ((real_scores - self.hp.target_real) ** 2).mean() \
            + 0.5 * ((fake_scores - self.hp.target_fake) ** 2).mean()
        return loss, {"d_real": real_scores.detach().mean(), "d_fake": fake_scores.detach().mean()}

    def generator_loss(self, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """½·E[(D(G(z)) − c)²]."""
        return 0.5 * ((self.discriminate(fake, labels) - self.hp.target_gen) ** 2).mean()
