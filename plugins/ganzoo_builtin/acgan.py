"""ACGAN (Odena et al. 2017): the generator is conditioned on the label, the discriminator predicts it."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import hookimpl
from ganzoo.adversarial import AdversarialModel
from ganzoo.model import Range
from ganzoo.nn import NORMS, ConvDecoder, ConvEncoder, LabelEmbedding, apply_spectral_norm, resolve_norm


class ACGenerator(nn.Module):
    """embedding(label) ⊙ z → upsampling conv decoder → tanh."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, latent_dim: int, width: int) -> None:
        super().__init__()
        self.embed = LabelEmbedding(num_classes, latent_dim)
        self.decoder = ConvDecoder(latent_dim, image_shape, width, mode="upsample", act="relu")

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] of the given classes."""
        return torch.tanh(self.decoder(self.embed(z, labels)))


class ACDiscriminator(nn.Module):
    """Strided 3×3 convs (no label input) with two heads: a validity logit and class logits."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, width: int, norm: str,
                 dropout: float) -> None:
        super().__init__()
        self.features = ConvEncoder(image_shape, width, kernel=3, norm=norm, dropout=dropout, extra_conv=True)
        self.validity = nn.Linear(self.features.out_features, 1)
        self.classes = nn.Linear(self.features.out_features, num_classes)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Validity logits ``(N,)`` and class logits ``(N, K)`` (no sigmoid/softmax: the losses take logits)."""
        h = self.features(images)
        return self.validity(h).squeeze(1), self.classes(h)


class ACGAN(AdversarialModel):
    """Auxiliary-classifier GAN after the Keras MNIST design, sized from the data.

    G: z ⊙ Embedding(label) → Linear → BatchNorm → ReLU at the base size, then (nearest 2× upsampling → 3×3 conv →
    BatchNorm → ReLU) per stage, channels halving down to ``g_channels``, and a 3×3 conv to the image with tanh.
    D: 3×3 stride-2 convs from ``d_channels`` channels doubling per stage plus one stride-1 conv, LeakyReLU(0.2),
    dropout, BatchNorm from the second conv; a validity head and a class head, trained with the chosen adversarial
    loss plus cross-entropy on logits. The generator is trained to be judged valid and of the sampled class.
    """

    name = "acgan"
    conditional = True
    description = "ACGAN (Odena 2017): G gets embedding(label) ⊙ z; D has validity and class heads"
    defaults = {**AdversarialModel.defaults, "g_channels": 16, "d_channels": 16, "d_norm": "auto",
                "d_dropout": 0.25, "class_weight": 1.0, "class_loss_on_fake": False}
    choices = {**AdversarialModel.choices, "g_channels": Range(1, 4096), "d_channels": Range(1, 4096),
               "d_norm": ("auto", *NORMS), "d_dropout": Range(0, 0.9), "class_weight": Range(0, 1000)}

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        super().__init__(hparams, image_shape, num_classes)
        self.G = ACGenerator(self.image_shape, self.num_classes, self.hp.latent_dim, self.hp.g_channels)
        norm = resolve_norm(self.hp.d_norm, self.gan_loss.per_sample_critic)
        self.D = ACDiscriminator(self.image_shape, self.num_classes, self.hp.d_channels, norm, self.hp.d_dropout)
        if norm == "spectral":
            apply_spectral_norm(self.D)
        self.build_optimizers()

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """embedding(label) ⊙ z → image in [-1, 1]."""
        return self.G(z, labels)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Validity logits ``(N,)`` (D never sees the label; its class head is used by the losses)."""
        return self.D(images)[0]

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None
                           ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Adversarial loss plus cross-entropy of the class head on real (and, if chosen, fake) images."""
        real_valid, real_class = self.D(self.augmented(real))
        fake_valid, fake_class = self.D(self.augmented(fake))
        loss, logs = self.adversarial_d_loss(real_valid, fake_valid, real, fake, labels)
        class_loss = F.cross_entropy(real_class, labels)
        if self.hp.class_loss_on_fake:
            class_loss = class_loss + F.cross_entropy(fake_class, labels)
        logs["d_class"] = class_loss.detach()
        logs["d_class_acc"] = (real_class.detach().argmax(1) == labels).float().mean()
        return loss + self.hp.class_weight * class_loss, logs

    def generator_loss(self, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Be judged valid, and be classified as the label the image was generated for."""
        valid, classes = self.D(self.augmented(fake))
        return self.gan_loss.g_loss(valid) + self.hp.class_weight * F.cross_entropy(classes, labels)


@hookimpl
def register_models(register: Callable[..., Any]) -> None:
    """Register ACGAN."""
    register(ACGAN)
