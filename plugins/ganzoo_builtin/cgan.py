"""CGAN (Mirza & Osindero 2014): the class label's one-hot vector joins the generator's and discriminator's inputs."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ganzoo import hookimpl
from ganzoo.model import Range
from ganzoo_builtin.gan import GAN
from ganzoo.nn import NORMS, ConvDecoder, ConvEncoder, apply_spectral_norm, one_hot_maps, resolve_norm


class CGAN(GAN):
    """Conditional GAN: [z ‖ one-hot] → G; D sees the image with its label (concatenated or as label channels).

    ``arch: mlp`` (the MNIST design): MLPs, the one-hot concatenated to the flattened image in D; ``g_batch_norm``
    puts BatchNorm between the generator's layers (without it the generator learned the labels far more slowly).
    ``arch: conv`` (the WGAN-GP CelebA/Fashion-MNIST design): a transposed-conv generator (BatchNorm,
    LeakyReLU 0.2) and a strided-conv discriminator that sees the one-hot as constant image channels.
    """

    name = "cgan"
    conditional = True
    description = "CGAN (Mirza & Osindero 2014): label joins z in G and the image in D (MLP or conv)"
    defaults = {**GAN.defaults, "arch": "mlp", "g_channels": 32, "d_channels": 64, "d_norm": "auto",
                "g_batch_norm": True}
    choices = {**GAN.choices, "arch": ("mlp", "conv"), "g_channels": Range(1, 4096), "d_channels": Range(1, 4096),
               "d_norm": ("auto", *NORMS)}

    def build_networks(self) -> None:
        """MLP networks (``arch: mlp``) or a conv generator and a label-channel conv discriminator (``conv``)."""
        if self.hp.arch == "mlp":
            super().build_networks()  # with BatchNorm in G when g_batch_norm
            return
        channels = self.image_shape[0]
        self.G = nn.Sequential(
            ConvDecoder(self.hp.latent_dim + self.num_classes, self.image_shape, self.hp.g_channels, act="leaky"),
            nn.Tanh())
        norm = resolve_norm(self.hp.d_norm, self.gan_loss.per_sample_critic)
        encoder = ConvEncoder(self.image_shape, self.hp.d_channels, in_channels=channels + self.num_classes,
                              norm=norm, dropout=self.hp.d_dropout)
        self.D = nn.Sequential(encoder, nn.Linear(encoder.out_features, 1))
        if norm == "spectral":
            apply_spectral_norm(self.D)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """MLP: flattened image ‖ one-hot → logit; conv: image ⊕ one-hot label channels → logit."""
        if self.hp.arch == "mlp":
            return super().discriminate(images, labels)
        maps = one_hot_maps(labels, self.num_classes, images.size(2), images.size(3), images.dtype)
        return self.D(torch.cat([images, maps], dim=1)).squeeze(1)


@hookimpl
def register_models(register: Callable[..., Any]) -> None:
    """Register the conditional GAN."""
    register(CGAN)
