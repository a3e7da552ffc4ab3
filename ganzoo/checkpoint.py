"""Checkpoints: atomic writes, safe loading (``weights_only``), the last K kept, and the newest good one found.

A checkpoint is one ``torch.save`` file holding plain containers and tensors only::

    {"format": "ganzoo-checkpoint", "version": 1, "step": int, "config": {...}, "state": model.training_state(),
     "rng": {...}, "data": {...}, "wall_seconds": float}

so that ``torch.load(weights_only=True)`` reads it and no pickled code ever runs.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ganzoo.errors import CheckpointError
from ganzoo.files import atomic_write, os_fix, os_reason

__all__ = [
    "CHECKPOINT_DIR", "FORMAT", "VERSION", "build_model", "checkpoint_path", "list_checkpoints", "load_model",
    "newest_checkpoint", "read_checkpoint", "resolve", "save_checkpoint", "scan_checkpoints",
]

FORMAT = "ganzoo-checkpoint"
VERSION = 1
#: The folder of a run directory that holds its checkpoints.
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step-(\d+)\.pt$")


def checkpoint_path(run_dir: str | os.PathLike, step: int) -> Path:
    """Where the checkpoint of ``step`` lives in ``run_dir``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step-{step:08d}.pt"


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """A run's checkpoint files, oldest first (``run_dir`` may also be its ``checkpoints`` folder)."""
    folder = _checkpoint_folder(Path(run_dir))
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name)) and p.is_file()]
    return [p for _, p in sorted(found)]


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``payload`` atomically (``ganzoo.files.atomic_write``); a disk error is a CheckpointError naming ``path``.

    The payload is serialised in memory first, so that a full disk is a plain ``OSError`` of the file write (torch
    wraps errors inside ``torch.save`` in a ``RuntimeError``), and a crash or a kill at any moment leaves either the
    old file or the complete new one, never a temporary file under the real name.
    """
    path = Path(path)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **payload}, buffer)
    try:
        atomic_write(path, buffer.getbuffer())
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {os_reason(exc)}. {os_fix(exc)} Earlier checkpoints "
                              f"in {path.parent} are untouched.") from None
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check one checkpoint file (tensors on CPU); a bad file is a :class:`CheckpointError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass a run folder or a step-*.pt file written by "
                              "'ganzoo train'")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError from a truncated zip, EOFError, ...
        text = f"{type(exc).__name__}: {exc}"
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise CheckpointError(
                f"checkpoint {path} holds pickled Python objects, which ganzoo never loads because they can run "
                "code; it was not written by 'ganzoo train'. Use a checkpoint written by ganzoo") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is truncated or damaged ({first}); delete it — with --resume "
                              "ganzoo falls back to the newest good checkpoint of the run") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganzoo checkpoint (no '{FORMAT}' marker); pass a checkpoint "
                              "written by 'ganzoo train'")
    if blob.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {blob.get('version')!r}; this ganzoo reads "
                              f"version {VERSION}. Use the ganzoo version that wrote it")
    for key in ("step", "config", "state"):
        if key not in blob:
            raise CheckpointError(f"checkpoint {path} lacks {key!r}; it is damaged or from another program")
    return blob


def scan_checkpoints(run_dir: str | os.PathLike) -> Iterator[tuple[Path, dict[str, Any] | None, str]]:
    """Each checkpoint of a run, newest step first, as (path, contents, "") or (path, None, why it does not load)."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            yield path, read_checkpoint(path), ""
        except CheckpointError as exc:
            yield path, None, str(exc)


def newest_checkpoint(run_dir: str | os.PathLike, warn: bool = True) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint of a run that loads cleanly, skipping (and warning about) damaged newer ones."""
    problems = []
    for path, blob, why in scan_checkpoints(run_dir):
        if blob is not None:
            return path, blob
        problems.append(why)
        if warn:
            warnings.warn(f"skipping a bad checkpoint: {why}", stacklevel=2)
    if not problems:
        raise CheckpointError(f"{run_dir} holds no checkpoints ({CHECKPOINT_DIR}/step-*.pt); train it first with "
                              "'ganzoo train', or pass a checkpoint file")
    raise CheckpointError(f"no checkpoint of {run_dir} is usable:\n  " + "\n  ".join(problems))


def resolve(path_or_run_dir: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """A checkpoint file, or the newest good checkpoint of a run folder, with its contents."""
    path = Path(path_or_run_dir)
    if path.is_dir():
        return newest_checkpoint(path)
    return path, read_checkpoint(path)


def build_model(config: dict[str, Any]) -> Any:
    """A freshly built model from a checkpoint's config (registry name, hyperparameters, image shape, classes)."""
    from ganzoo.errors import UnknownNameError
    from ganzoo.registry import host

    try:
        cls = host().get("models", config["model"]).obj
    except UnknownNameError as exc:
        raise CheckpointError(f"the checkpoint's model {config['model']!r} is not registered: {exc} Install the "
                              "plugin that provides it") from None
    return cls(dict(config.get("hparams") or {}), image_shape=tuple(config["image_shape"]),
               num_classes=int(config["num_classes"]))


def load_model(path_or_run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Any, dict[str, Any]]:
    """The trained model of a run folder (its newest good checkpoint) or of a checkpoint file, in eval mode.

    Returns ``(model, meta)``; ``meta`` holds ``model``, ``step``, ``dataset``, ``image_shape``, ``num_classes``,
    ``class_names``, ``config`` and ``path``. The caller's random state is left untouched.
    """
    path, blob = resolve(path_or_run_dir)
    config = blob["config"]
    with torch.random.fork_rng(devices=[]):  # the throw-away initialisation must not move the caller's RNG
        model = build_model(config)
    try:
        model.load_training_state(blob["state"], weights_only=True)
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} does not fit model {config['model']!r}: "
                              f"{str(exc).splitlines()[0]}") from None
    model.to(device).eval()
    meta = {"model": config["model"], "step": int(blob["step"]), "dataset": config.get("dataset"),
            "dataset_options": config.get("dataset_options") or {},
            "image_shape": tuple(config["image_shape"]), "num_classes": int(config["num_classes"]),
            "class_names": config.get("class_names"), "config": config, "path": str(path)}
    return model, meta


def _checkpoint_folder(path: Path) -> Path:
    return path / CHECKPOINT_DIR if (path / CHECKPOINT_DIR).is_dir() or path.name != CHECKPOINT_DIR else path
