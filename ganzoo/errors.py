"""The exceptions ganzoo raises for bad input: each message names the cause and the fix."""
from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CheckpointError", "ConfigError", "DataError", "ExportError", "GanzooError", "PluginError", "TrainingError",
    "UnknownNameError", "did_you_mean",
]


class GanzooError(Exception):
    """Base class of every error ganzoo reports to a user (the CLI prints it without a traceback)."""


class ConfigError(GanzooError, ValueError):
    """A configuration file, key or value is invalid."""


class UnknownNameError(GanzooError, KeyError):
    """A model, evaluator, data set or suite name is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginError(GanzooError):
    """A plugin misbehaved (bad registration, wrong return types)."""


class CheckpointError(GanzooError):
    """A checkpoint file is missing, truncated, foreign or unsafe."""


class ExportError(CheckpointError):
    """An exported model (``ganzoo export``: config.json + model.safetensors), or the Hub holding one, is unusable."""


class DataError(GanzooError):
    """A data set is missing or malformed."""


class TrainingError(GanzooError):
    """Training cannot continue (for example a NaN loss)."""


def did_you_mean(name: object, known: Iterable[object]) -> str:
    """The hint for a misspelt name: ``" Did you mean 'dcgan'?"`` naming the closest of ``known``, or ``""``."""
    close = difflib.get_close_matches(str(name).lower(), [str(k) for k in known], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
