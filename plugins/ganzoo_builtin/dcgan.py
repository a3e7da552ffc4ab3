"""DCGAN (Radford et al. 2015): transposed-conv generator and strided-conv discriminator, sized from the data."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import nn

from ganzoo import hookimpl
from ganzoo.adversarial import AdversarialModel
from ganzoo.model import Range
from ganzoo.nn import NORMS, ConvDecoder, ConvEncoder, apply_spectral_norm, init_dcgan_weights, resolve_norm


class DCGAN(AdversarialModel):
    """Unconditional DCGAN: G projects z to a small base map and doubles it with 4×4 stride-2 transposed convs.

    G: Linear → BatchNorm → ReLU, then (ConvT → BatchNorm → ReLU) per stage, channels halving down to
    ``g_channels``, and a last ConvT to the image channels with tanh. D mirrors it: 4×4 stride-2 convs from
    ``d_channels`` channels doubling per stage, BatchNorm from the second, LeakyReLU(0.2), then a linear logit.
    Weights from N(0, 0.02); Adam(2e-4, β1 = 0.5). 28×28 uses 2 stages from 7×7, 32×32 3 and 64×64 4 from 4×4.
    """

    name = "dcgan"
    description = "DCGAN (Radford 2015): strided (transposed) convs, BatchNorm, ReLU/LeakyReLU, tanh"
    defaults = {**AdversarialModel.defaults, "g_channels": 32, "d_channels": 32, "d_norm": "auto",
                "d_dropout": 0.0}
    choices = {**AdversarialModel.choices, "g_channels": Range(1, 4096), "d_channels": Range(1, 4096),
               "d_norm": ("auto", *NORMS), "d_dropout": Range(0, 0.9)}

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        super().__init__(hparams, image_shape, num_classes)
        self.G = nn.Sequential(ConvDecoder(self.hp.latent_dim, self.image_shape, self.hp.g_channels, act="relu"),
                               nn.Tanh())
        norm = resolve_norm(self.hp.d_norm, self.gan_loss.per_sample_critic)
        encoder = ConvEncoder(self.image_shape, self.hp.d_channels, norm=norm, act="leaky", dropout=self.hp.d_dropout)
        self.D = nn.Sequential(encoder, nn.Linear(encoder.out_features, 1))
        self.apply(init_dcgan_weights)
        if norm == "spectral":  # after the initialisation, which would otherwise be lost
            apply_spectral_norm(self.D)
        self.build_optimizers()

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """z → image in [-1, 1]."""
        return self.G(z)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Image → validity logit."""
        return self.D(images).squeeze(1)


@hookimpl
def register_models(register: Callable[..., Any]) -> None:
    """Register DCGAN."""
    register(DCGAN)
