"""ganzoo-lsgan: the LSGAN model for ganzoo, registered through the ``ganzoo`` entry point of this package."""
from __future__ import annotations

from typing import Any, Callable

import ganzoo
from ganzoo_lsgan.model import LSGAN

__all__ = ["LSGAN", "register_models"]
__version__ = "0.1.0"


@ganzoo.hookimpl
def register_models(register: Callable[..., Any]) -> None:
    """Give ganzoo the LSGAN model."""
    register(LSGAN)
