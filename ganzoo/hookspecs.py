"""The hooks a ganzoo plugin may implement. Each hook receives a ``register`` callback."""
from __future__ import annotations

from typing import Any, Callable

import pluggy

__all__ = [
    "PROJECT", "hookimpl", "hookspec", "register_datasets", "register_evaluators", "register_loggers",
    "register_losses", "register_models", "register_regularizers",
]

PROJECT = "ganzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register: Callable[..., Any]) -> None:
    """Register model classes: call ``register(ModelClass)`` once per model.

    :param register: ``register(cls, name=None)``; ``cls`` subclasses :class:`ganzoo.GenerativeModel`
        and ``name`` defaults to ``cls.name``.
    """


@hookspec
def register_evaluators(register: Callable[..., Any]) -> None:
    """Register evaluators (feature extractors for FID/IS/KID): call ``register(name, factory)``.

    :param register: ``register(name, factory, description="")``; ``factory(**options)`` returns an
        :class:`ganzoo.metrics.Evaluator`.
    """


@hookspec
def register_datasets(register: Callable[..., Any]) -> None:
    """Register data sets: call ``register(name, loader, description="")``.

    :param register: ``register(name, loader, description="")``; ``loader(root, download, **options)``
        returns a :class:`ganzoo.data.ImageData`.
    """


@hookspec
def register_losses(register: Callable[..., Any]) -> None:
    """Register adversarial losses that a GAN's ``loss`` hyperparameter can name: call ``register(LossClass)``.

    :param register: ``register(cls, name=None)``; ``cls`` subclasses :class:`ganzoo.losses.AdversarialLoss`
        and ``name`` defaults to ``cls.name``.
    """


@hookspec
def register_regularizers(register: Callable[..., Any]) -> None:
    """Register discriminator regularisers that a GAN's ``regularizers`` hyperparameter can list.

    :param register: ``register(cls, name=None)``; ``cls`` subclasses :class:`ganzoo.regularizers.Regularizer`
        and ``name`` defaults to ``cls.name``.
    """


@hookspec
def register_loggers(register: Callable[..., Any]) -> None:
    """Register experiment loggers that ``train.loggers`` and ``ganzoo train --logger`` can name.

    :param register: ``register(cls, name=None)``; ``cls`` subclasses :class:`ganzoo.loggers.Logger` and ``name``
        defaults to ``cls.name``.
    """
