"""Experiment loggers: the base class a logger subclasses, and lookup by registered name.

Loggers are registered through the ``register_loggers`` hook, the built-in ones (``jsonl``, ``tensorboard``) by
ganzoo's own plugin ``ganzoo_builtin.loggers``. A run uses the ones zoo.yaml's ``train.loggers`` lists (default
``[jsonl]``) plus each ``ganzoo train --logger NAME``; only rank 0 of a DDP run calls them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from ganzoo.model import class_summary
from ganzoo.registry import host

__all__ = ["Logger", "list_loggers", "logger_class"]


class Logger:
    """Receives one training run's numbers and pictures; register the subclass by ``name``.

    ganzoo calls, in this order: ``start`` once, then ``log_scalars`` and ``log_images`` as the run goes,
    ``log_hparams`` when it finishes (not after Ctrl-C), and ``close`` however it ends. Every method does nothing
    unless overridden. Raise a :class:`ganzoo.GanzooError` to stop the run on purpose; any other exception is
    reported as a bug in your plugin and switches this logger off for the rest of the run (training goes on).
    """

    #: Registry name, an item of ``train.loggers`` and the value of ``--logger``, e.g. ``"tensorboard"``.
    name: ClassVar[str] = ""
    #: One line for listings (default: the docstring's first line).
    description: ClassVar[str] = ""

    def __init__(self) -> None:
        """Check here, before anything is written, that the packages the logger needs are installed."""

    def start(self, run_dir: Path, config: dict[str, Any], step: int) -> None:
        """The run starts in ``run_dir`` at ``step`` (a resumed run: its checkpoint's; what was logged after it is
        logged again); ``config`` is what ``config.yaml`` holds."""

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Numbers at ``step`` by tag: ``epoch``, ``losses/NAME``, ``images_per_second``, ``wall_seconds``; ``fid``
        (the FID curve) in ``ganzoo bench --eval-every``."""

    def log_images(self, step: int, tag: str, image: np.ndarray) -> None:
        """A picture at ``step``: uint8 of shape (height, width, 3); ``tag`` ``samples`` is the sample grid."""

    def log_hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """When the run finishes: its settings (model, data set, batch size, seed, the model's hyperparameters)
        and final results (``images_per_second`` over the run, ``losses/NAME`` last logged)."""

    def close(self) -> None:
        """The run ended (finished, stopped or failed): flush and let go of files and connections."""

    @classmethod
    def summary(cls) -> str:
        """The one-line description (``description`` or the docstring's first line)."""
        return class_summary(cls)


def list_loggers(pattern: str | None = None) -> list[str]:
    """Names of the registered loggers, sorted, optionally filtered by an fnmatch ``pattern``."""
    return host().names("loggers", pattern)


def logger_class(name: str) -> type[Logger]:
    """The registered logger class called ``name`` (raises :class:`ganzoo.UnknownNameError` with suggestions)."""
    return host().get("loggers", name).obj
