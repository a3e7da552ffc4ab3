"""Adversarial losses: the base class a loss subclasses, the helpers it may use, and lookup by registered name.

Losses are registered through the ``register_losses`` hook, the built-in ones (``bce``, ``wgan-gp``, ``hinge``)
by ganzoo's own plugin ``ganzoo_builtin.losses``; a GAN's ``loss`` hyperparameter names one.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping

import torch

from ganzoo.model import class_summary, own_hparams
from ganzoo.registry import host

__all__ = ["AdversarialLoss", "create_loss", "gradient_penalty", "list_losses", "loss_class", "real_targets"]


class AdversarialLoss:
    """A GAN loss over discriminator logits, with its own hyperparameters; register the subclass by ``name``.

    A subclass sets ``name`` and ``defaults`` (its hyperparameters; ``choices`` bounds them as a model's do) and
    implements :meth:`d_loss` and :meth:`g_loss`; :meth:`penalty` adds a term that needs the images. The values
    are in ``self.hp``. A model passes its own hyperparameters of the same names, so a model that declares
    them lets users set them in zoo.yaml; any other keeps the loss's default. A loss holds no training state.
    """

    #: Registry name, the value of a model's ``loss`` hyperparameter, e.g. ``"hinge"``.
    name: ClassVar[str] = ""
    #: One line for listings (default: the docstring's first line).
    description: ClassVar[str] = ""
    #: The loss's hyperparameters and their defaults.
    defaults: ClassVar[dict[str, Any]] = {}
    #: Allowed values: key -> tuple of choices or :class:`ganzoo.Range`.
    choices: ClassVar[dict[str, Any]] = {}
    #: True when the critic is differentiated per sample (a gradient penalty): ``auto`` norms then avoid BatchNorm.
    per_sample_critic: ClassVar[bool] = False

    def __init__(self, **hparams: Any) -> None:
        """``hparams``: the model's hyperparameters; those in :attr:`defaults` are taken and checked (``self.hp``)."""
        self.hp = own_hparams("loss", self.name, self.defaults, hparams)

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss (a scalar) from its logits ``(N,)`` on real and on generated images."""
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """The generator's loss (a scalar) from the discriminator's logits ``(N,)`` on generated images."""
        raise NotImplementedError

    def penalty(self, critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]] | None:
        """An extra, already weighted discriminator term on the images and the values to log; None for none."""
        return None

    @classmethod
    def summary(cls) -> str:
        """The one-line description (``description`` or the docstring's first line)."""
        return class_summary(cls)


def real_targets(n: int, smoothing: float, noise: float, device: torch.device,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Targets for real samples: ``1 - smoothing`` (one-sided label smoothing), a ``noise`` share flipped to 0."""
    targets = torch.full((n,), 1.0 - smoothing, device=device, dtype=dtype)
    if noise > 0:
        flip = torch.rand(n, device=device) < noise
        targets = torch.where(flip, torch.zeros_like(targets), targets)
    return targets


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty E[(‖∇ critic(x̂)‖₂ − 1)²] on random interpolates x̂ of real and fake images."""
    alpha = torch.rand(real.size(0), *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grads,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def list_losses(pattern: str | None = None) -> list[str]:
    """Names of the registered losses, sorted, optionally filtered by an fnmatch ``pattern``."""
    return host().names("losses", pattern)


def loss_class(name: str) -> type[AdversarialLoss]:
    """The registered loss class called ``name`` (raises :class:`ganzoo.UnknownNameError` with suggestions)."""
    return host().get("losses", name).obj


def create_loss(name: str, hparams: Mapping[str, Any] | None = None) -> AdversarialLoss:
    """The registered loss ``name``, with the values in ``hparams`` of its own hyperparameters (others ignored)."""
    cls = loss_class(name)
    return cls(**{k: v for k, v in (hparams or {}).items() if k in cls.defaults})
