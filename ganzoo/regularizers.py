"""Discriminator regularisers: the base class a regulariser subclasses and lookup by registered name.

Regularisers are registered through the ``register_regularizers`` hook, the built-in ones (``r1``, ``lecam``) by
ganzoo's own plugin ``ganzoo_builtin.regularizers``; a GAN's ``regularizers`` hyperparameter lists the ones it uses.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping

import torch
from torch import nn

from ganzoo.model import class_summary, own_hparams
from ganzoo.registry import host

__all__ = ["Regularizer", "create_regularizer", "list_regularizers", "regularizer_class"]


class Regularizer(nn.Module):
    """A term added to the discriminator's loss, with its own hyperparameters; register the subclass by ``name``.

    A subclass sets ``name`` and ``defaults`` (``choices`` bounds them as a model's do) and implements
    :meth:`d_term`. The values are in ``self.hp``; a model passes its own hyperparameters of the same names. State
    that must survive a resume (a running mean, a step counter) goes in buffers: the model saves them with its
    networks, so a resumed run continues bit for bit.
    """

    #: Registry name, an item of a model's ``regularizers`` hyperparameter, e.g. ``"r1"``.
    name: ClassVar[str] = ""
    #: One line for listings (default: the docstring's first line).
    description: ClassVar[str] = ""
    #: The regulariser's hyperparameters and their defaults.
    defaults: ClassVar[dict[str, Any]] = {}
    #: Allowed values: key -> tuple of choices or :class:`ganzoo.Range`.
    choices: ClassVar[dict[str, Any]] = {}

    def __init__(self, **hparams: Any) -> None:
        """``hparams``: the model's hyperparameters; those in :attr:`defaults` are taken and checked (``self.hp``)."""
        super().__init__()
        self.hp = own_hparams("regularizer", self.name, self.defaults, hparams)

    def d_term(self, critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
               real_logits: torch.Tensor, fake_logits: torch.Tensor
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]] | None:
        """The weighted term for this discriminator step and the values to log; None to add nothing this step.

        ``critic`` maps images to logits as the discriminator sees them (augmentation included); ``real`` and
        ``fake`` are the step's images; ``real_logits``/``fake_logits`` are the discriminator's outputs on them.
        """
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        """The one-line description (``description`` or the docstring's first line)."""
        return class_summary(cls)


def list_regularizers(pattern: str | None = None) -> list[str]:
    """Names of the registered regularisers, sorted, optionally filtered by an fnmatch ``pattern``."""
    return host().names("regularizers", pattern)


def regularizer_class(name: str) -> type[Regularizer]:
    """The registered regulariser class called ``name`` (raises :class:`ganzoo.UnknownNameError` with suggestions)."""
    return host().get("regularizers", name).obj


def create_regularizer(name: str, hparams: Mapping[str, Any] | None = None) -> Regularizer:
    """The registered regulariser ``name`` with the values in ``hparams`` of its own hyperparameters."""
    cls = regularizer_class(name)
    return cls(**{k: v for k, v in (hparams or {}).items() if k in cls.defaults})
