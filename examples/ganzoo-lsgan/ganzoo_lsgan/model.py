"""LSGAN (Mao et al., "Least Squares Generative Adversarial Networks", 2017) on DCGAN-style networks.

Built only on ganzoo's public API: :class:`ganzoo.adversarial.AdversarialModel` supplies the training step
(one D update, one G update), the Adam optimizers, sampling and checkpoints; :mod:`ganzoo.nn` the networks,
sized from the data; this package the least-squares loss (:mod:`ganzoo_lsgan.loss`), which the model's ``loss``
hyperparameter names by default.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganzoo import Range
from ganzoo.adversarial import AdversarialModel
from ganzoo.nn import ConvDecoder, ConvEncoder, init_dcgan_weights
from ganzoo_lsgan.loss import LeastSquaresLoss


class LSGAN(AdversarialModel):
    """LSGAN (Mao 2017): DCGAN-style networks trained with least-squares losses."""

    name = "lsgan"
    description = "LSGAN (Mao 2017): DCGAN-style networks, least-squares loss (third-party example plugin)"
    # The loss's target codes are declared here too, so that zoo.yaml and --set can change them for lsgan.
    defaults: dict[str, Any] = {
        **AdversarialModel.defaults,
        "loss": "lsgan",
        **LeastSquaresLoss.defaults,
        "width": 64,           # channels of the discriminator's first and the generator's last conv
    }
    choices: dict[str, Any] = {**AdversarialModel.choices, **LeastSquaresLoss.choices, "width": Range(1, 1024)}

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
