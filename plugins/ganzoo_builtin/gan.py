"""GAN (Goodfellow et al. 2014): MLP generator and discriminator with the non-saturating loss."""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ganzoo import hookimpl
from ganzoo.adversarial import AdversarialModel
from ganzoo.model import Range
from ganzoo.nn import concat_one_hot, mlp


class GAN(AdversarialModel):
    """Unconditional GAN with MLP generator (256-512-1024) and discriminator (512-256)."""

    name = "gan"
    description = "GAN (Goodfellow 2014): MLP generator and discriminator, non-saturating loss"
    defaults = {**AdversarialModel.defaults, "g_widths": [256, 512, 1024], "d_widths": [512, 256],
                "d_dropout": 0.0, "g_batch_norm": False}
    choices = {**AdversarialModel.choices, "d_dropout": Range(0, 0.9), "g_widths": Range(1, 65536),
               "d_widths": Range(1, 65536)}

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        super().__init__(hparams, image_shape, num_classes)
        self.build_networks()
        self.build_optimizers()

    def build_networks(self) -> None:
        """The MLP generator ``G`` and discriminator ``D`` (LeakyReLU 0.2 between layers)."""
        pixels = math.prod(self.image_shape)
        act = nn.LeakyReLU(0.2)
        g_sizes = [self.hp.latent_dim + self.cond_dim, *self.hp.g_widths, pixels]
        # g_batch_norm: BatchNorm between the generator's layers (off in the paper, on in the popular PyTorch script).
        self.G = nn.Sequential(mlp(g_sizes, act, batch_norm=self.hp.g_batch_norm), nn.Tanh())
        self.D = mlp([pixels + self.cond_dim, *self.hp.d_widths, 1], act, self.hp.d_dropout)

    @property
    def cond_dim(self) -> int:
        """Width of the label vector joined to the inputs (0 when unconditional)."""
        return self.num_classes if self.conditional else 0

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """z (‖ one-hot label) → MLP → tanh image."""
        return self.G(concat_one_hot(z, labels, self.num_classes)).view(-1, *self.image_shape)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Flattened image (‖ one-hot label) → MLP → logit."""
        return self.D(concat_one_hot(images.flatten(1), labels, self.num_classes)).squeeze(1)


@hookimpl
def register_models(register: Callable[..., Any]) -> None:
    """Register the MLP GAN."""
    register(GAN)
