"""Calls into plugin code: an exception or a broken return value becomes a PluginError naming the plugin.

The harness, the sampler and the scorer call a model only through these helpers, so a plugin that raises,
returns a non-dict from ``train_step`` or images of the wrong shape is reported with its distribution and
version (who to tell), never as a bare traceback.
"""
from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed
from torch import nn

from ganzoo.errors import ConfigError, GanzooError, PluginError, TrainingError
from ganzoo.registry import host

__all__ = [
    "built", "check_batch_norm", "checked_losses", "checked_sample", "checked_translate", "entry_origin", "origin",
    "plugin_bug", "plugin_call",
]


def origin(model: Any) -> str:
    """Who provides ``model`` (an instance or a class): "model 'x' (plugin 'p', distribution 'd 1.0')", or its module
    when unregistered."""
    cls = model if isinstance(model, type) else type(model)
    for entry in host().table("models").values():
        if entry.obj is cls:
            return (f"model {entry.name!r} (plugin {entry.plugin!r}, distribution "
                    f"'{entry.dist}{' ' + entry.version if entry.version else ''}')")
    return f"model {getattr(model, 'name', cls.__name__)!r} (class {cls.__module__}.{cls.__qualname__}, not registered)"


def built(cls: type, hparams: dict[str, Any], image_shape: tuple[int, int, int], num_classes: int) -> Any:
    """``cls(hparams, image_shape=..., num_classes=...)``; anything but a ganzoo error it raises is a PluginError naming
    the model's plugin and distribution, the images it was built for, the cause and the plugin's line."""
    try:
        return cls(hparams, image_shape=image_shape, num_classes=num_classes)
    except GanzooError:
        raise
    except Exception as exc:  # noqa: BLE001 — a constructor's failure is reported with its place, not re-raised bare
        entry = next((e for e in host().table("models").values() if e.obj is cls), None)
        who = origin(cls) if entry is None else (f"{entry.name} (plugin {entry.plugin!r}, distribution "
                                                 f"'{entry.dist}{' ' + entry.version if entry.version else ''}')")
        name = entry.name if entry is not None else getattr(cls, "name", cls.__name__)
        images = "×".join(map(str, image_shape))
        if isinstance(exc, torch.OutOfMemoryError):
            raise TrainingError(f"{who} ran out of memory while being built for images {images}; lower its widths"
                                ) from exc
        raise PluginError(f"{who} cannot be built for images {images} ({num_classes} classes) with these "
                          f"hyperparameters: {type(exc).__name__}: {_first_line(exc)} (at {_where(exc)}). Check the "
                          f"values you set ('ganzoo info {name}' shows the defaults); if they are valid, this is a "
                          "bug in that plugin: report it to its authors") from exc


@contextlib.contextmanager
def plugin_call(model: Any, what: str) -> Iterator[None]:
    """Run plugin code; turn any non-ganzoo exception it raises into a PluginError that names the plugin."""
    try:
        yield
    except (GanzooError, torch.distributed.DistError):  # ours, or the process group's (not the plugin's fault)
        raise
    except torch.OutOfMemoryError as exc:
        raise TrainingError(f"{what} of {origin(model)} ran out of memory ({_first_line(exc)}); lower --batch-size "
                            "or the model's widths") from exc
    except Exception as exc:  # noqa: BLE001 — any bug in a plugin is reported, with its place, not re-raised bare
        raise plugin_bug(origin(model), what, exc) from exc


def check_batch_norm(model: Any, batch_size: int, world_size: int = 1, given: str = "--batch-size") -> None:
    """A ConfigError naming ``given`` (``--batch-size``, ``dcgan.batch_size``) if BatchNorm gets < 2 images a rank."""
    per_process = batch_size // max(int(world_size), 1)
    if per_process >= 2:
        return
    layers = [f"{net_name}.{name}" if name else net_name for net_name, net in model.networks().items()
              for name, module in net.named_modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return
    split = f" over {world_size} processes ({per_process} image each)" if world_size > 1 else ""
    more = f" and {len(layers) - 1} more" if len(layers) > 1 else ""
    fix = f"--set {given}=" if "." in given else f"{given} "
    raise ConfigError(f"{given} {batch_size}{split}: model {getattr(model, 'name', '') or type(model).__name__!r} "
                      f"normalises with BatchNorm ({layers[0]}{more}), which needs at least 2 images per batch in "
                      f"each process; use {fix}{2 * max(int(world_size), 1)} or more")


class LossError(ValueError):
    """``train_step`` returned something other than a dict of named, detached scalar losses."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"returned {what}; {fix}")
        self.what, self.fix = what, fix


def loss_tensors(losses: Any) -> dict[str, torch.Tensor]:
    """The one rule for ``train_step``'s return value: {name: 0-d tensor}, or a LossError saying what is wrong.

    Valid is a non-empty dict of string keys and scalar values: a one-element float or integer tensor without
    autograd history (``loss.detach()``), or a number other than a bool. Whether the values are finite is checked
    apart (the harness stops a run whose losses are not finite).
    """
    if not isinstance(losses, dict) or not losses:
        raise LossError(_describe(losses), "it must return a non-empty dict of named scalar losses, "
                                           "e.g. {'g_loss': g.detach(), 'd_loss': d.detach()}")
    out = {}
    for name, value in losses.items():
        if not isinstance(name, str):
            raise LossError(f"the key {name!r}", "name each loss with a string")
        if torch.is_tensor(value) and value.requires_grad:
            raise LossError(f"{name!r}: {_describe(value)} that still holds its autograd graph",
                            "return loss.detach() (or loss.item())")
        try:
            t = None if isinstance(value, bool) else torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            t = None
        if t is None or t.numel() != 1 or not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
            raise LossError(f"{name!r}: {_describe(value)}", "every loss must be a scalar (a 0-d tensor such as "
                                                              "loss.mean().detach(), or a float) under a string name")
        out[name] = t.reshape(())
    return out


def checked_losses(model: Any, losses: Any, step: int) -> dict[str, torch.Tensor]:
    """``train_step``'s return value as {name: 0-d tensor}, or a PluginError naming the plugin (see loss_tensors)."""
    try:
        return loss_tensors(losses)
    except LossError as exc:
        raise PluginError(f"train_step of {origin(model)} returned {exc.what} at step {step}; {exc.fix}") from None


def checked_sample(model: Any, n: int, labels: torch.Tensor | None, generator: torch.Generator | None
                   ) -> torch.Tensor:
    """``model.sample(n, labels, generator=...)`` with its result checked: a (n, *image_shape) floating tensor."""
    with plugin_call(model, "sample"), model.sampling_weights():
        images = model.sample(n, labels, generator=generator)
    expected = (n, *model.image_shape)
    if not isinstance(images, torch.Tensor) or tuple(images.shape) != expected or not images.is_floating_point():
        raise PluginError(f"sample({n}) of {origin(model)} returned {_describe(images)}; expected a floating tensor "
                          f"of shape {expected} in [-1, 1]")
    return images


def checked_translate(model: Any, images: torch.Tensor, source_domain: int) -> torch.Tensor:
    """``model.translate(images, source_domain)`` in the sampling weights, its result checked: a floating tensor of
    the input's shape."""
    with plugin_call(model, "translate"), model.sampling_weights():
        out = model.translate(images, source_domain)
    expected = tuple(images.shape)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected or not out.is_floating_point():
        raise PluginError(f"translate() of {origin(model)} returned {_describe(out)} for {expected[0]} images; "
                          f"expected a floating tensor of shape {expected} in [-1, 1]")
    return out


def entry_origin(entry: Any) -> str:
    """Who registered a registry entry: "data set 'x' (plugin 'p', distribution 'd 1.0')"."""
    kind = {"datasets": "data set", "models": "model", "evaluators": "evaluator",
            "loggers": "logger"}.get(entry.kind, entry.kind)
    version = f" {entry.version}" if entry.version else ""
    return f"{kind} {entry.name!r} (plugin {entry.plugin!r}, distribution '{entry.dist}{version}')"


def plugin_bug(who: str, what: str, exc: BaseException) -> PluginError:
    """The PluginError for an unexpected exception in plugin code: names the plugin, the exception and its line."""
    return PluginError(f"{what} of {who} raised {type(exc).__name__}: {_first_line(exc)} (at {_where(exc)}); this "
                       "is a bug in that plugin: report it to its authors, or block it with GANZOO_DISABLE_PLUGINS")


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}" if not isinstance(value, dict) or value else "an empty dict"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "(no message)"


def _where(exc: BaseException) -> str:
    """The innermost frame outside torch (the plugin's line, not the library call it made)."""
    torch_dir = str(Path(torch.__file__).parent)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(torch_dir)]
    if not frames:
        return "an unknown place"
    return f"{frames[-1].filename}:{frames[-1].lineno}"
