"""Checkpoints: atomic writes, safe loading (``weights_only``), the last K kept, and the newest good one found.

A checkpoint is one ``torch.save`` file holding plain containers and tensors only::

    {"format": "ganzoo-checkpoint", "version": 1, "step": int, "config": {...}, "state": model.training_state(),
     "rng": {...}, "data": {...}, "wall_seconds": float}

so that ``torch.load(weights_only=True)`` reads it and no pickled code ever runs. A checkpoint is data: reading one
checks its step and config as zoo.yaml is checked (types, ranges, the image shape and class count within
``ganzoo.model``'s bounds, the model's hyperparameters), and weights that are not finite are never written nor
sampled from.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from ganzoo.config import check_hparams
from ganzoo.errors import CheckpointError, ConfigError, UnknownNameError
from ganzoo.export import is_export_source, load_export
from ganzoo.files import atomic_write, file_problem, os_fix, os_reason
from ganzoo.guard import built
from ganzoo.model import check_data_shape
from ganzoo.registry import host
from ganzoo.rng import check_seed

__all__ = [
    "CHECKPOINT_DIR", "FORMAT", "MAX_BYTES", "VERSION", "build_model", "checkpoint_path", "list_checkpoints",
    "load_model",
    "newest_checkpoint", "nonfinite_tensor", "read_checkpoint", "resolve", "save_checkpoint", "scan_checkpoints",
]

FORMAT = "ganzoo-checkpoint"
VERSION = 1
#: The folder of a run directory that holds its checkpoints.
CHECKPOINT_DIR = "checkpoints"
#: The largest checkpoint file read (the generators of this zoo's scale are megabytes).
MAX_BYTES = 16 * 2**30
_NAME = re.compile(r"^step-(\d+)\.pt$")
#: What torch says when ``weights_only`` refuses a pickled global (a class or function), as opposed to bytes it
#: cannot read at all.
_PICKLED_GLOBAL = re.compile(r"GLOBAL \S+ was not an allowed global|whose module \S+ is blocked|"
                             r"\S+ must be \S+ to load")


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

    Weights that are not finite are refused (a CheckpointError naming the newest checkpoint already written), so
    every checkpoint of a run is one to go back to. The payload is serialised in memory first, so that a full disk
    is a plain ``OSError`` of the file write (torch wraps errors inside ``torch.save`` in a ``RuntimeError``), and a
    crash or a kill at any moment leaves either the old file or the complete new one, never a temporary file under
    the real name.
    """
    path = Path(path)
    bad = nonfinite_tensor(payload.get("state"))
    if bad:
        earlier = [p for p in list_checkpoints(path.parent) if p != path]
        newest = f"the newest checkpoint is {earlier[-1]}" if earlier else "no earlier checkpoint was written"
        raise CheckpointError(f"not writing checkpoint {path}: its weights are non-finite (NaN or infinity, first in "
                              f"{bad!r}), so training diverged; {newest}. Train again with a lower learning rate")
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
    problem = file_problem(path, MAX_BYTES)
    if problem:
        raise CheckpointError(f"checkpoint {path}: {problem}; pass a run folder or a step-*.pt file written by "
                              "'ganzoo train'")
    try:
        with warnings.catch_warnings():  # torch's warnings about odd pickle protocols: the error below says it all
            warnings.simplefilter("ignore")
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError from a truncated zip, EOFError, ...
        if _PICKLED_GLOBAL.search(str(exc)):
            raise CheckpointError(
                f"checkpoint {path} holds pickled Python objects, which ganzoo never loads because they can run "
                "code; it was not written by 'ganzoo train'. Use a checkpoint written by ganzoo") from None
        text = str(exc).rpartition("WeightsUnpickler error:")[2]  # torch's own words come after its advice
        why = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
        why = re.sub(r"^\[enforce fail at [^\]]*\][\s.]*", "", why)  # torch's C++ prefix (and no markup)
        raise CheckpointError(f"checkpoint {path} is truncated, damaged or not a ganzoo checkpoint ({why[:200]}); "
                              "delete it — with --resume ganzoo falls back to the newest good checkpoint of the run"
                              ) from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganzoo checkpoint (no '{FORMAT}' marker); pass a checkpoint "
                              "written by 'ganzoo train'")
    if blob.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {blob.get('version')!r}; this ganzoo reads "
                              f"version {VERSION}. Use the ganzoo version that wrote it")
    for key in ("step", "config", "state"):
        if key not in blob:
            raise CheckpointError(f"checkpoint {path} lacks {key!r}; it is damaged or from another program")
    try:
        _check_contents(blob)
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {path} is damaged or was not written by 'ganzoo train': {exc}") from None
    model, hparams = blob["config"]["model"], blob["config"].get("hparams")
    if hparams and model in host().table("models"):  # an unregistered model is refused when it is built
        try:
            check_hparams(model, hparams, f"checkpoint {path}")
        except ConfigError as exc:
            raise CheckpointError(f"{exc}; the checkpoint is damaged or from another version of {model!r}") from None
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
        raise CheckpointError(f"{run_dir} holds no checkpoints ({CHECKPOINT_DIR}/step-*.pt) and is no export "
                              "(config.json + model.safetensors); train it first with 'ganzoo train', or pass a "
                              "checkpoint file or a folder written by 'ganzoo export'")
    more = f" (and {len(problems) - 1} more, each named above)" if len(problems) > 1 else ""
    raise CheckpointError(f"no checkpoint of {run_dir} is usable: {problems[0]}{more}")


def resolve(path_or_run_dir: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """A checkpoint file, or the newest good checkpoint of a run folder, with its contents."""
    path = Path(path_or_run_dir)
    if path.is_dir():
        return newest_checkpoint(path)
    return path, read_checkpoint(path)


def build_model(config: dict[str, Any], path: str | os.PathLike = "") -> Any:
    """A freshly built model from the config of checkpoint ``path`` as read by :func:`read_checkpoint` (checked)."""
    where = f"checkpoint {path}" if path else "the checkpoint"
    try:
        cls = host().get("models", config["model"]).obj
    except UnknownNameError as exc:
        raise CheckpointError(f"model {config['model']!r} is not registered ({where}): {exc} Install the plugin "
                              "that provides it") from None
    try:
        return built(cls, dict(config.get("hparams") or {}), tuple(config["image_shape"]), int(config["num_classes"]))
    except ConfigError as exc:
        raise CheckpointError(f"{where} is damaged or was not written by 'ganzoo train': {exc}") from None


def load_model(path_or_run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Any, dict[str, Any]]:
    """The trained model of a run folder (its newest good checkpoint), a checkpoint file or an export, in eval mode.

    An export is a folder written by ``ganzoo export`` (config.json + model.safetensors) or ``hf://USER/REPO``: see
    ``ganzoo.export.load_export``. Weights that are not finite are a CheckpointError naming the first such tensor and
    an earlier finite checkpoint. Returns ``(model, meta)``; ``meta`` holds ``model``, ``step``, ``dataset``,
    ``image_shape``, ``num_classes``, ``class_names``, ``config`` (with the data set record) and ``path``. The
    caller's random state is left untouched.
    """
    if is_export_source(path_or_run_dir):
        return load_export(path_or_run_dir, device)
    path, blob = resolve(path_or_run_dir)
    bad = nonfinite_tensor(blob["state"])
    if bad:
        raise CheckpointError(f"checkpoint {path} holds non-finite weights (NaN or infinity, first in {bad!r}): the "
                              f"run had diverged when it was written; {_earlier_good(path)}")
    config = blob["config"]
    with torch.random.fork_rng(devices=[]):  # the throw-away initialisation must not move the caller's RNG
        model = build_model(config, path)
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


def nonfinite_tensor(state: Any) -> str | None:
    """The name of the first network tensor of a ``training_state()`` holding a NaN or an infinity, else None."""
    networks = state.get("networks") if isinstance(state, dict) else None
    if not isinstance(networks, dict):
        return None
    names = [k for k, t in networks.items() if torch.is_tensor(t) and (t.is_floating_point() or t.is_complex())]
    if not names:
        return None
    device = networks[names[0]].device
    finite = torch.stack([torch.isfinite(networks[k]).all().to(device) for k in names]).cpu()  # one host sync
    bad = (~finite).nonzero()
    return str(names[int(bad[0])]) if len(bad) else None


def _earlier_good(path: Path) -> str:
    """Which checkpoint to use instead of ``path``: the newest earlier one of its run that loads and is finite."""
    folder = list_checkpoints(path.parent)
    step = int(m.group(1)) if (m := _NAME.match(path.name)) else None
    for other in reversed(folder):
        m = _NAME.match(other.name)
        if other == path or (step is not None and m and int(m.group(1)) > step):
            continue
        try:
            if nonfinite_tensor(read_checkpoint(other)["state"]) is None:
                return f"use the earlier checkpoint {other}"
        except CheckpointError:
            continue
    return "no earlier checkpoint of the run has finite weights: train it again with a lower learning rate"


def _check_contents(blob: dict[str, Any]) -> None:
    """Check what ganzoo reads from a checkpoint as zoo.yaml is checked; a ConfigError says what is wrong."""
    step = blob["step"]
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= 10**12:
        raise ConfigError(f"step {step!r}: must be an integer from 0 to 10**12")
    config, state = blob["config"], blob["state"]
    if not isinstance(config, dict):
        raise ConfigError(f"config: must be a mapping, got {type(config).__name__}")
    if not isinstance(state, dict) or not isinstance(state.get("networks"), dict):
        raise ConfigError("state: must be a mapping with the networks' weights under 'networks'")
    model = config.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigError(f"config.model {model!r}: must be a model name")
    check_data_shape(config.get("image_shape"), config.get("num_classes"))
    if config.get("seed") is not None:
        check_seed("config.seed", config["seed"])
    for key, kinds, ok in _OPTIONAL:
        value = config.get(key)
        if value is not None and not (isinstance(value, kinds) and not isinstance(value, bool) and ok(value)):
            raise ConfigError(f"config.{key} {value!r}: {_OPTIONAL_RULES[key]}")
    if config.get("amp") not in (None, False, "bfloat16", "float16"):
        raise ConfigError(f"config.amp {config['amp']!r}: must be false, 'bfloat16' or 'float16'")
    wall = blob.get("wall_seconds", 0.0)
    if not isinstance(wall, (int, float)) or isinstance(wall, bool) or not 0 <= wall < float("inf"):
        raise ConfigError(f"wall_seconds {wall!r}: must be a number of seconds")
    hparams = config.get("hparams")
    if hparams is not None and not isinstance(hparams, dict):
        raise ConfigError(f"config.hparams: must be a mapping, got {type(hparams).__name__}")


#: Settings of a checkpoint's config that may be absent or None, each (key, types, rule); resuming reads them.
_OPTIONAL: tuple[tuple[str, Any, Callable[[Any], bool]], ...] = (
    ("batch_size", int, lambda v: 1 <= v <= 10**9),
    ("steps", int, lambda v: 1 <= v <= 10**12),
    ("max_seconds", (int, float), lambda v: 0 < v < float("inf")),
    ("dataset", str, bool),
    ("dataset_options", dict, lambda v: all(isinstance(k, str) for k in v)),
    ("data_root", str, lambda v: True),
    ("class_names", list, lambda v: all(isinstance(n, str) for n in v)),
)
_OPTIONAL_RULES = {"batch_size": "must be a positive integer", "steps": "must be a positive integer",
                   "max_seconds": "must be a positive number", "dataset": "must be a data set name",
                   "dataset_options": "must be a mapping of option names",
                   "data_root": "must be a folder", "class_names": "must be a list of names"}


def _checkpoint_folder(path: Path) -> Path:
    return path / CHECKPOINT_DIR if (path / CHECKPOINT_DIR).is_dir() or path.name != CHECKPOINT_DIR else path
