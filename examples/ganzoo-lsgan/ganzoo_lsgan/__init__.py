"""ganzoo-lsgan: the LSGAN model and its least-squares loss, registered through this package's entry point."""
from __future__ import annotations

from typing import Any, Callable

import ganzoo
from ganzoo_lsgan.loss import LeastSquaresLoss
from ganzoo_lsgan.model import LSGAN

__all__ = ["LSGAN", "LeastSquaresLoss", "register_losses", "register_models"]
__version__ = "0.1.0"


@ganzoo.hookimpl
def register_models(register: Callable[..., Any]) -> None:
    """Give ganzoo the LSGAN model."""
    register(LSGAN)


@ganzoo.hookimpl
def register_losses(register: Callable[..., Any]) -> None:
    """Give ganzoo the least-squares loss, ``lsgan``, which any GAN's ``loss`` hyperparameter may then name."""
    register(LeastSquaresLoss)
