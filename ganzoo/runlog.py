"""A run's loggers (zoo.yaml ``train.loggers``, then each ``--logger``): every call goes to each one, on rank 0.

They are built before the run folder is touched, so an unknown name, a missing package (a logger's constructor
checks) or a constructor that raises stops the command before anything is written. While the run goes, a
:class:`ganzoo.GanzooError` a logger raises on purpose (a full disk under metrics.jsonl, a folder that is a link)
stops it as any failed write into the run folder does; any other exception is a bug in the logger's plugin: that
logger is switched off for the rest of the run with one warning naming the plugin and its distribution, and
training goes on (a tracker that breaks never costs the training done).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ganzoo.errors import GanzooError
from ganzoo.guard import entry_origin, plugin_bug
from ganzoo.loggers import Logger
from ganzoo.registry import Entry, host

__all__ = ["RunLog", "logger_names"]


def logger_names(configured: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """The loggers of a run: zoo.yaml's ``train.loggers`` then the ``--logger`` ones, each once, in that order."""
    return list(dict.fromkeys([*configured, *extra]))


def _warn(text: str) -> None:
    warnings.warn(text, RuntimeWarning, stacklevel=4)


class RunLog:
    """The loggers of one run, called together; one that breaks is dropped with a warning (see the module)."""

    def __init__(self, names: Iterable[str], *, active: bool = True, warn: Callable[[str], None] = _warn) -> None:
        """Build the loggers ``names`` (errors here stop the command); ``active`` False (DDP ranks but 0): they are
        built, so every rank fails alike, but never called. ``warn`` says that a logger was switched off."""
        self.warn = warn
        #: The loggers' names, each once, in the order given.
        self.names = list(dict.fromkeys(names))
        self.loggers: list[tuple[Entry, Logger]] = []
        for name in self.names:
            entry = host().get("loggers", name)
            try:
                logger = entry.obj()
            except GanzooError:
                raise
            except Exception as exc:  # noqa: BLE001 — the plugin's bug, reported with its place
                raise plugin_bug(entry_origin(entry), "the constructor", exc) from exc
            if active:
                self.loggers.append((entry, logger))

    def start(self, run_dir: Path, config: dict[str, Any], step: int) -> None:
        """Every logger's ``start``."""
        self._call("start", Path(run_dir), config, step)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Every logger's ``log_scalars``."""
        self._call("log_scalars", step, values)

    def images(self, step: int, tag: str, image: np.ndarray) -> None:
        """Every logger's ``log_images``."""
        self._call("log_images", step, tag, image)

    def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """Every logger's ``log_hparams``."""
        self._call("log_hparams", hparams, metrics)

    def close(self) -> None:
        """Every logger's ``close``; here even a ganzoo error only warns (the run is over, or failing already)."""
        self._call("close", fatal=False)
        self.loggers = []

    def _call(self, method: str, *args: Any, fatal: bool = True) -> None:
        for item in list(self.loggers):
            entry, logger = item
            try:
                # each gets its own copy of a mapping: one logger cannot change what the next one sees
                getattr(logger, method)(*(dict(a) if isinstance(a, Mapping) else a for a in args))
            except GanzooError as exc:
                if fatal:
                    raise
                self.warn(f"{method} of {entry_origin(entry)}: {exc}")
            except Exception as exc:  # noqa: BLE001 — a bug in the plugin: reported, the logger dropped
                self.loggers.remove(item)
                self.warn(f"{plugin_bug(entry_origin(entry), method, exc)}. The logger is off for the rest of this "
                          "run; training goes on")
