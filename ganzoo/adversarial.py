"""The shared GAN training step: a subclass supplies ``generate`` and ``discriminate``; the loss comes by name."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from torch import nn

from ganzoo.augment import Policy, diff_augment, parse_policy
from ganzoo.losses import AdversarialLoss, create_loss
from ganzoo.model import EMA_CHOICES, EMA_DEFAULTS, Batch, GenerativeModel, Range
from ganzoo.nn import init_dcgan_weights  # noqa: F401  (its home until ganzoo.nn; kept for plugins written for 0.1)
from ganzoo.registry import Registered
from ganzoo.regularizers import create_regularizer

__all__ = ["AdversarialModel"]


class AdversarialModel(GenerativeModel):
    """Base class of the GAN family: generator ``self.G``, discriminator ``self.D``, a registered loss.

    Subclasses build ``self.G`` and ``self.D`` and implement :meth:`generate` and :meth:`discriminate`;
    :meth:`build_optimizers` makes the two Adam optimizers from ``lr_g``, ``lr_d``, ``beta1``, ``beta2``.
    ``self.gan_loss`` is the loss the ``loss`` hyperparameter names, built from the model's hyperparameters.
    """

    family = "gan"
    #: Hyperparameters every GAN shares; subclasses extend them with ``{**AdversarialModel.defaults, ...}``.
    #: ``gp_weight`` (wgan-gp), ``label_smoothing`` and ``label_noise`` (bce) are the built-in losses' own.
    defaults: dict[str, Any] = {
        "latent_dim": 100,
        "batch_size": 64,
        "lr_g": 2e-4,
        "lr_d": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "loss": "bce",
        "critic_steps": 1,
        "gp_weight": 10.0,
        "label_smoothing": 0.0,
        "label_noise": 0.0,
        "augment": "",
        "regularizers": [],
        "r1_gamma": 10.0,
        "r1_every": 16,
        "lecam_weight": 0.3,
        "lecam_decay": 0.99,
        **EMA_DEFAULTS,
    }
    choices: dict[str, Any] = {
        "latent_dim": Range(1, 4096),
        "batch_size": Range(1, 65536),
        "lr_g": Range(0, 1),
        "lr_d": Range(0, 1),
        "beta1": Range(0, 1),
        "beta2": Range(0, 1),
        "loss": Registered("losses"),
        "critic_steps": Range(1, 100),
        "gp_weight": Range(0, 1e6),
        "label_smoothing": Range(0, 0.5),
        "label_noise": Range(0, 0.5),
        "augment": Policy(),
        "regularizers": Registered("regularizers"),
        "r1_gamma": Range(0, 1e6),
        "r1_every": Range(1, 1e6),
        "lecam_weight": Range(0, 1e6),
        "lecam_decay": Range(0, 1, high_open=True),
        **EMA_CHOICES,
    }
    sample_networks = ("G",)

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        """As :class:`ganzoo.GenerativeModel`: ``hparams`` over :attr:`defaults`, the image (C, H, W), the class
        count; also builds the adversarial loss, the DiffAugment policy and the regularisers the hyperparameters
        name. Subclasses build ``G`` and ``D`` after calling it."""
        super().__init__(hparams, image_shape, num_classes)
        self.gan_loss: AdversarialLoss = create_loss(self.hp.loss, vars(self.hp))
        #: The DiffAugment policies applied to every image the discriminator sees (``augment``), in order.
        self.augment_policy: tuple[str, ...] = parse_policy(self.hp.augment)
        #: The registered regularisers ``regularizers`` lists; their buffers are saved with the networks.
        self.regularizers = nn.ModuleDict({name: create_regularizer(name, vars(self.hp))
                                           for name in self.hp.regularizers})

    # -- to implement -------------------------------------------------------------------------------
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Map noise (and labels) to images in [-1, 1]."""
        raise NotImplementedError

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Validity logits ``(N,)`` for ``images`` (and labels)."""
        raise NotImplementedError

    # -- shared machinery ---------------------------------------------------------------------------
    def build_optimizers(self) -> None:
        """Adam for G and D from the ``lr_g``/``lr_d``/``beta1``/``beta2`` hyperparameters."""
        betas = (self.hp.beta1, self.hp.beta2)
        self.optimizers = {
            "G": torch.optim.Adam(self.G.parameters(), lr=self.hp.lr_g, betas=betas),
            "D": torch.optim.Adam(self.D.parameters(), lr=self.hp.lr_d, betas=betas),
        }

    def augmented(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` through the ``augment`` policies (DiffAugment), as the discriminator must see every image."""
        return diff_augment(images, self.augment_policy) if self.augment_policy else images

    def critic(self, labels: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor]:
        """Images → validity logits as the discriminator sees them (augmented), for penalties and regularisers."""
        return lambda x: self.discriminate(self.augmented(x), labels)

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None
                           ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The discriminator's loss on a real and a (detached) fake batch, plus extra logged terms."""
        real_logits = self.discriminate(self.augmented(real), labels)
        fake_logits = self.discriminate(self.augmented(fake), labels)
        return self.adversarial_d_loss(real_logits, fake_logits, real, fake, labels)

    def adversarial_d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor, real: torch.Tensor,
                           fake: torch.Tensor, labels: torch.Tensor | None
                           ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The chosen loss on given validity logits, plus its penalty (e.g. WGAN-GP's) and the regularisers' terms.

        ``real`` and ``fake`` are the images before augmentation: penalties see them through :meth:`critic`.
        """
        loss = self.gan_loss.d_loss(real_logits, fake_logits)
        logs: dict[str, torch.Tensor] = {"d_real": real_logits.detach().mean(),
                                         "d_fake": fake_logits.detach().mean()}
        critic = self.critic(labels)
        terms = [self.gan_loss.penalty(critic, real, fake)]
        terms += [r.d_term(critic, real, fake, real_logits, fake_logits) for r in self.regularizers.values()]
        for term in terms:
            if term is not None:
                loss = loss + term[0]
                logs.update(term[1])
        return loss, logs

    def generator_loss(self, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The generator's loss on a fake batch (labels are the ones it was generated for)."""
        return self.gan_loss.g_loss(self.discriminate(self.augmented(fake), labels))

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor | float]:
        """One discriminator update, then (every ``critic_steps`` steps) one generator update on the same fakes.

        The generator runs once per step: its batch, generated for the real batch's labels, is scored detached by
        the discriminator update and then, by the updated discriminator, for the generator update (the order of
        PyTorch's DCGAN example; the source scripts' one generator forward per step).
        """
        real = batch.images
        labels = batch.labels if self.conditional else None
        update_g = step % self.hp.critic_steps == 0
        with torch.set_grad_enabled(update_g):  # no graph through G when only the critic learns this step
            fake = self.generate(self.noise(real.size(0), self.hp.latent_dim), labels)
        d_loss, logs = self.discriminator_loss(real, fake.detach(), labels)
        self.optimize("D", d_loss)
        out: dict[str, torch.Tensor | float] = {"d_loss": d_loss.detach(), **logs}
        if update_g:
            g_loss = self.generator_loss(fake, labels)
            self.optimize("G", g_loss)
            out["g_loss"] = g_loss.detach()
        return out

    def sample(self, n: int, labels: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Generate ``n`` images in [-1, 1] (in eval mode, without gradients)."""
        labels = self.check_labels(n, labels, generator)
        return self.decode_latents(self.noise(n, self.hp.latent_dim, generator), labels)

    def decode_latents(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`generate` in eval mode without gradients, as float images."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self.generate(z.to(self.device), labels).float()
        finally:
            self.train(was_training)
