"""VAE (Kingma & Welling 2013): conv encoder to μ and log σ², reparameterisation, conv decoder; ELBO loss."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import hookimpl
from ganzoo.model import EMA_CHOICES, EMA_DEFAULTS, Batch, GenerativeModel, Range
from ganzoo.nn import ConvDecoder, ConvEncoder


class GaussianEncoder(nn.Module):
    """Image → (μ, log σ²) of the approximate posterior q(z | x)."""

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, width: int) -> None:
        super().__init__()
        self.features = ConvEncoder(image_shape, width, act="leaky")
        self.head = nn.Linear(self.features.out_features, 2 * latent_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each ``(N, latent_dim)``."""
        mu, logvar = self.head(self.features(images)).chunk(2, dim=1)
        return mu, logvar


class VAE(GenerativeModel):
    """Variational autoencoder with a strided-conv encoder and a transposed-conv decoder sized from the data.

    Loss per image = reconstruction (summed over pixels) + ``kl_weight`` · KL(q(z|x) ‖ N(0, I)) (summed over
    latents), averaged over the batch. ``recon_loss: bce`` treats the decoder's output as Bernoulli logits of the
    pixel intensities in [0, 1] (the Keras design), ``mse`` as a Gaussian mean in [-1, 1] (squared error).
    Samples decode z ~ N(0, I) to [-1, 1].
    """

    name = "vae"
    family = "vae"
    description = "VAE (Kingma & Welling 2013): conv encoder → μ, log σ²; reparameterised decoder; recon + KL"
    defaults = {"latent_dim": 16, "batch_size": 64, "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "channels": 32,
                "kl_weight": 1.0, "recon_loss": "bce",
                **EMA_DEFAULTS}
    choices = {"latent_dim": Range(1, 4096), "batch_size": Range(1, 65536), "lr": Range(0, 1), "beta1": Range(0, 1),
               "beta2": Range(0, 1), "channels": Range(1, 4096), "kl_weight": Range(0, 1e6),
               "recon_loss": ("bce", "mse"), **EMA_CHOICES}
    sample_networks = ("decoder",)

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        super().__init__(hparams, image_shape, num_classes)
        self.encoder = GaussianEncoder(self.image_shape, self.hp.latent_dim, self.hp.channels)
        self.decoder = ConvDecoder(self.hp.latent_dim, self.image_shape, self.hp.channels, act="relu")
        self.optimizers = {"vae": torch.optim.Adam(self.parameters(), lr=self.hp.lr,
                                                   betas=(self.hp.beta1, self.hp.beta2))}

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes → images in [-1, 1]."""
        out = self.decoder(z)
        # 2·sigmoid(x) − 1 = tanh(x / 2): the Bernoulli mean mapped to [-1, 1].
        return torch.tanh(out / 2) if self.hp.recon_loss == "bce" else torch.tanh(out)

    def reconstruction_loss(self, out: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of ``images`` under the decoder's output, summed per image, batch mean."""
        n = images.size(0)
        if self.hp.recon_loss == "bce":
            return F.binary_cross_entropy_with_logits(out, (images + 1) / 2, reduction="sum") / n
        return F.mse_loss(torch.tanh(out), images, reduction="sum") / n

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor | float]:
        """One ELBO step: encode, reparameterise, decode; log the total, the reconstruction and the KL."""
        images = batch.images
        mu, logvar = self.encoder(images)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = self.reconstruction_loss(self.decoder(z), images)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / images.size(0)
        loss = recon + self.hp.kl_weight * kl
        self.optimize("vae", loss)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def _eval(self, fn, *args):
        was_training = self.training
        self.eval()
        try:
            return fn(*args).float()
        finally:
            self.train(was_training)

    def sample(self, n: int, labels: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` codes z ~ N(0, I) to images in [-1, 1] (labels are ignored: the VAE is unconditional)."""
        self.check_labels(n, labels, generator)
        return self.decode_latents(self.noise(n, self.hp.latent_dim, generator))

    def decode_latents(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decode codes ``z`` to images in [-1, 1] (labels are ignored)."""
        return self._eval(lambda codes: self.decode(codes), z.to(self.device))

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Decode the posterior means of ``images`` (in [-1, 1]) back to images in [-1, 1]."""
        return self._eval(lambda x: self.decode(self.encoder(x)[0]), images.to(self.device))


@hookimpl
def register_models(register: Callable[..., Any]) -> None:
    """Register the VAE."""
    register(VAE)
