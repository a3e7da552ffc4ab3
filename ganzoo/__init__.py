"""ganzoo: a plugin-based zoo of image generative models for PyTorch.

Public API::

    import ganzoo
    ganzoo.list_models("*gan")            # ['acgan', 'cgan', 'dcgan', 'gan']
    model = ganzoo.create_model("dcgan", image_shape=(1, 28, 28), lr=1e-4)
    model = ganzoo.load("exports/cgan")   # or "hf://USER/REPO", a run folder, a checkpoint file
    model = ganzoo.load("cgan", pretrained=True)   # the weights the built-in plugin ships

Plugins implement hooks marked with :data:`ganzoo.hookimpl` (see ``docs/plugins.md``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ganzoo.config import Zoo, _check, load_zoo
from ganzoo.environment import resolve_device
from ganzoo.errors import (CheckpointError, ConfigError, DataError, ExportError, GanzooError, PluginError,
                           TrainingError, UnknownNameError)
from ganzoo.guard import built
from ganzoo.hookspecs import hookimpl
from ganzoo.model import Batch, GenerativeModel, Range, check_data_shape
from ganzoo.registry import host

__version__ = "0.1.0"
__all__ = [
    "Batch", "CheckpointError", "ConfigError", "DataError", "ExportError", "GanzooError", "GenerativeModel",
    "PluginError", "Range", "TrainingError", "UnknownNameError", "create_model", "hookimpl", "list_models", "load",
    "model_class", "pretrained_dir",
]


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered models, sorted, optionally filtered by an fnmatch ``pattern`` (e.g. ``"*gan"``)."""
    return host().names("models", pattern)


def model_class(name: str) -> type[GenerativeModel]:
    """The registered model class called ``name`` (raises :class:`UnknownNameError` with suggestions)."""
    return host().get("models", name).obj


def create_model(name: str, *, image_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int | None = None,
                 zoo: Any = None, **overrides: Any) -> GenerativeModel:
    """Build model ``name`` with zoo.yaml's hyperparameters and ``overrides`` on top, its inputs checked
    (``num_classes`` None: 2 for a translation model, its two domains, else 10)."""
    cls = model_class(name)
    if num_classes is None:
        num_classes = 2 if cls.translates else 10
    try:
        image_shape, num_classes = check_data_shape(image_shape, num_classes)
    except ConfigError as exc:
        raise ConfigError(f"create_model({name!r}): {exc}") from None
    zoo = zoo if zoo is not None else load_zoo()
    hparams = zoo.model_hparams(name) if name in (zoo.data.get("models") or {}) else dict(cls.defaults)
    if overrides:
        _check(overrides, cls.defaults, f"models.{name}", Zoo({}, "create_model()"), cls.choices, prefix="")
        hparams.update(overrides)
    return built(cls, hparams, image_shape, num_classes)


def pretrained_dir(name: str) -> Path:
    """The folder of the trained weights model ``name``'s plugin ships, or an UnknownNameError saying which have."""
    folder = model_class(name).pretrained_dir()
    if folder is None:
        have = [n for n in list_models() if model_class(n).pretrained_dir() is not None]
        raise UnknownNameError(f"model {name!r} ships no pretrained weights; these do: {', '.join(have) or 'none'} "
                               "('ganzoo list' shows them). Train it with 'ganzoo train' instead")
    return folder


def load(path: str | os.PathLike, device: str = "cpu", *, pretrained: bool = False) -> GenerativeModel:
    """A trained model ready to sample (eval mode, its generator's average when it has one) from an export folder,
    ``hf://USER/REPO[@REVISION]`` (``pip install 'ganzoo[hub]'``), a run folder or a checkpoint file; with
    ``pretrained`` ``path`` is a model's name and its plugin's shipped weights are loaded (``ganzoo list``)."""
    from ganzoo.checkpoint import load_model  # here: the checkpoint layer sits above the package's front

    model, _ = load_model(pretrained_dir(str(path)) if pretrained else path, device=resolve_device(device))
    model.use_ema = True
    return model
