"""Trained models in the Hugging Face layout: ``config.json`` + ``model.safetensors`` + a ``README.md`` model card.

``ganzoo export`` writes such a folder from a run; :func:`load_export` reads it back (a folder, or
``hf://USER/REPO[@REVISION]`` through huggingface_hub's cache), and ``ganzoo.checkpoint.load_model`` hands every
folder that holds a config.json or a model.safetensors to it, so ``ganzoo.load``, ``sample``, ``eval`` and ``bench``
take an export wherever they take a run. No pickle anywhere: the weights are safetensors, the rest JSON and text.

* ``model.safetensors``: the state-dict tensors of the model's ``sample_networks`` (every network when it names none)
  and of their moving average (``ema.*``) when the run kept one; never the discriminator or optimiser state.
* ``config.json``: the model's registry name, hyperparameters, image shape, classes and class names, the data set
  record (``dataset``, ``dataset_options``, ``data_root``, as a checkpoint's config holds it), the run's step and
  seed, the ganzoo version, the format and its version, and the run's scores with their protocol (or null).
* ``README.md``: a model card with YAML front matter (``library_name: ganzoo``, tags, datasets, metrics) showing
  ``samples.png``.

Reading checks config.json as a checkpoint's config is checked (``config.check_hparams`` for the hyperparameters,
``model.check_data_shape`` for the image shape and classes, unknown keys refused) before a model is built, and every
tensor against the built model (missing, extra, shape, dtype, non-finite) before it is loaded.

Why not ``huggingface_hub.PyTorchModelHubMixin``: its ``from_pretrained`` rebuilds a model as ``cls(**config)`` of
one class that inherits the mixin, while a ganzoo model is built from a registry name, hyperparameters checked
against zoo.yaml's rules, an image shape and a class count by whichever plugin registered the name, and an export
holds only the sampling networks (its ``save_pretrained`` would save the discriminator too). So ganzoo writes the
same layout (config.json + model.safetensors + README.md with ``library_name``) itself, and uses huggingface_hub
only for what it is best at: ``snapshot_download`` (its cache, ``HF_HUB_OFFLINE``), ``HfApi.create_repo`` and
``HfApi.upload_folder``.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from ganzoo.config import check_hparams
from ganzoo.ema import WeightAverage
from ganzoo.errors import ConfigError, ExportError, UnknownNameError
from ganzoo.files import atomic_write, file_problem, os_fix, os_reason
from ganzoo.guard import built
from ganzoo.model import check_data_shape, class_summary
from ganzoo.registry import host
from ganzoo.rng import check_seed

__all__ = [
    "CARD_FILE", "CONFIG_FILE", "FILES", "FORMAT", "GRID_FILE", "HUB_PREFIX", "SCORE_KEYS", "VERSION", "WEIGHTS_FILE",
    "WEIGHT_DTYPES",
    "check_hub_push", "check_out_folder", "export_config", "exported_tensors", "is_export_source", "load_export",
    "model_card", "parse_hub_uri", "push_to_hub", "read_config", "run_scores", "write_export",
]

FORMAT = "ganzoo-export"
VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
GRID_FILE = "samples.png"
#: The files of an export: what ``--overwrite`` replaces and what ``--push-to-hub`` uploads.
FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, GRID_FILE)
HUB_PREFIX = "hf://"
#: How an export may store its floating-point weights (float16: ``--compact``, half the bytes).
WEIGHT_DTYPES = ("float32", "float16")
#: The scores an export carries from its run (each a finite number or null), with their protocol.
SCORE_KEYS = ("fid", "inception_score", "inception_score_std", "kid", "kid_std", "precision", "recall", "density",
              "coverage", "class_accuracy", "intra_fid", "class_kept", "fid_untranslated")
#: The largest config.json read (class names of 10,000 classes fit many times over).
MAX_CONFIG_BYTES = 16 * 2**20
#: The largest weights file read.
MAX_WEIGHTS_BYTES = 16 * 2**30
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_HUB_URI = re.compile(r"^hf://(?P<repo>[^@/\s]+/[^@/\s]+)(?:@(?P<rev>[\w.\-/]+))?/?$")
_HUB_FIX = "pip install 'ganzoo[hub]'"

#: config.json's keys: key -> (required, check(value) -> True when valid, the rule said when not).
_KEYS: dict[str, tuple[bool, Callable[[Any], bool], str]] = {
    "format": (True, lambda v: v == FORMAT, f"must be {FORMAT!r}"),
    "format_version": (True, lambda v: v == VERSION, f"must be {VERSION} (this ganzoo reads version {VERSION}; use "
                                                     "the ganzoo version that wrote it)"),
    "ganzoo_version": (False, lambda v: isinstance(v, str), "must be a version string"),
    "model": (True, lambda v: isinstance(v, str) and bool(v), "must be a registered model's name"),
    "family": (False, lambda v: isinstance(v, str), "must be a string"),
    "conditional": (False, lambda v: isinstance(v, bool), "must be true or false"),
    "translates": (False, lambda v: isinstance(v, bool), "must be true or false (whether the model translates images)"),
    "description": (False, lambda v: isinstance(v, str), "must be a string"),
    "plugin": (False, lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
               "must be a mapping of strings"),
    "hparams": (True, lambda v: isinstance(v, dict), "must be a mapping of hyperparameters"),
    "image_shape": (True, lambda v: True, ""),  # check_data_shape says what is wrong
    "num_classes": (True, lambda v: True, ""),
    "class_names": (False, lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
                    "must be a list of names"),
    "ema": (True, lambda v: isinstance(v, bool), "must be true or false (whether the weights hold an average)"),
    "weights_dtype": (False, lambda v: v in WEIGHT_DTYPES, f"must be one of {', '.join(WEIGHT_DTYPES)}"),
    "weights_source": (False, lambda v: isinstance(v, str), "must be a string"),
    "reproduce": (False, lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                  "must be a list of commands"),
    "step": (False, lambda v: _is_int(v) and 0 <= v <= 10**12, "must be an integer from 0 to 10**12"),
    "seed": (False, lambda v: True, ""),  # check_seed says what is wrong
    "dataset": (False, lambda v: isinstance(v, str) and bool(v), "must be a data set name"),
    "dataset_options": (False, lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
                        "must be a mapping of option names"),
    "data_root": (False, lambda v: isinstance(v, str), "must be a folder"),
    "scores": (False, lambda v: isinstance(v, dict) and isinstance(v.get("protocol", {}), dict),
               "must be a mapping of scores with their 'protocol' mapping"),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- what an export holds ------------------------------------------------------------------------------------------
def _exported_networks(model: Any) -> list[str]:
    """The networks an export keeps: the model's ``sample_networks``, or every network when it names none."""
    return list(model.sample_networks) or list(model.networks())


def _kept(key: str, nets: set[str]) -> bool:
    """Whether state-dict ``key`` belongs to one of ``nets`` or to its moving average (``ema.NET.…``)."""
    head, _, rest = key.partition(".")
    return head in nets or (head == "ema" and rest.partition(".")[0] in nets)


def exported_tensors(model: Any, compact: bool = False) -> dict[str, torch.Tensor]:
    """The state-dict tensors of ``model`` that sampling needs: its sample networks and their average (CPU copies);
    ``compact``: only the weights sampling uses (the average when there is one, under the networks' own names), in
    float16."""
    nets = set(_exported_networks(model))
    with model.sampling_weights() if compact else contextlib.nullcontext():
        state = model.unwrapped_state_dict()
        # copies: safetensors refuses tensors that share storage, and the file must not depend on the device
        tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()
                   if _kept(k, nets) and not (compact and k.startswith("ema."))}
    if compact:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    return tensors


def run_scores(checkpoint: str | os.PathLike) -> tuple[dict[str, Any] | None, str]:
    """The scores ``ganzoo bench`` wrote beside a run (``bench-result.json``) when they are of ``checkpoint`` (a
    ``RUN/checkpoints/step-*.pt`` file), and a note saying where they came from or why there are none."""
    checkpoint = Path(checkpoint)
    path = checkpoint.parent.parent / "bench-result.json"
    if checkpoint.parent.name != "checkpoints" or not os.path.lexists(path):
        return None, "no scores (not a 'ganzoo bench' run: score it with 'ganzoo eval')"
    problem = file_problem(path, MAX_CONFIG_BYTES)
    try:
        result = json.loads(path.read_text(encoding="utf-8")) if not problem else None
    except (OSError, ValueError) as exc:
        problem = f"it is not readable JSON ({exc})"
        result = None
    if not isinstance(result, dict):
        return None, f"scores left out: {path}: {problem or 'not a JSON object'}"
    scored = Path(str(result.get("checkpoint") or "")).name
    if scored != Path(checkpoint).name:
        return None, (f"scores left out: {path} scores {scored or 'an unnamed checkpoint'}, not the exported "
                      f"{Path(checkpoint).name}")
    scores: dict[str, Any] = {}
    for key in SCORE_KEYS:
        value = result.get(key)
        finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if key in result:
            scores[key] = float(value) if finite else None
    protocol = result.get("protocol")
    scores["protocol"] = {str(k): v if _json_plain(v) else str(v) for k, v in protocol.items()} \
        if isinstance(protocol, dict) else {}
    return scores, f"scores from {path}"


def _json_plain(value: Any) -> bool:
    """A value config.json can hold as it is: a string, a boolean, an integer, a finite float or None."""
    return value is None or isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value))


def export_config(model: Any, meta: dict[str, Any], scores: dict[str, Any] | None = None,
                  compact: bool = False) -> dict[str, Any]:
    """config.json of an export of ``model`` as ``checkpoint.load_model`` returned it with ``meta``."""
    run = meta.get("config") or {}
    entry = host().table("models").get(meta["model"])
    return {
        "format": FORMAT, "format_version": VERSION, "ganzoo_version": _version(),
        "model": meta["model"], "family": model.family, "conditional": bool(model.conditional),
        "translates": bool(getattr(model, "translates", False)),
        "description": class_summary(type(model)),
        "plugin": {"distribution": entry.dist, "version": entry.version} if entry is not None else {},
        "hparams": dict(run.get("hparams") or vars(model.hp)),
        "image_shape": list(meta["image_shape"]), "num_classes": int(meta["num_classes"]),
        "class_names": list(meta["class_names"]) if meta.get("class_names") else None,
        "ema": model.ema is not None and not compact,
        "weights_dtype": "float16" if compact else "float32",
        "weights_source": ("moving average" if model.ema is not None else "trained weights") if compact else
                          ("trained weights and their moving average" if model.ema is not None else "trained weights"),
        "step": int(meta.get("step") or 0), "seed": run.get("seed"),
        "dataset": run.get("dataset") or meta.get("dataset"), "dataset_options": dict(run.get("dataset_options") or {}),
        "data_root": run.get("data_root"),
        "scores": scores if scores is not None else run.get("scores"),
    }


def _version() -> str:
    from ganzoo import __version__

    return __version__


# -- writing ---------------------------------------------------------------------------------------------------------
def _is_ganzoo_export(folder: Path) -> bool:
    path = folder / CONFIG_FILE
    if file_problem(path, MAX_CONFIG_BYTES):
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def check_out_folder(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """``out`` when an export may be written there: new, empty, an export already, or any folder with ``overwrite``."""
    out = Path(out)
    if os.path.lexists(out) and not out.is_dir():
        raise ExportError(f"--out {out} is not a folder; pass a new or empty folder for the export")
    if out.is_dir() and not overwrite and not _is_ganzoo_export(out):
        try:
            others = sorted(p.name for p in out.iterdir())
        except OSError as exc:
            raise ExportError(f"--out {out} cannot be read ({os_reason(exc)}); {os_fix(exc)}") from None
        if others:
            shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
            raise ExportError(f"--out {out} holds other files ({shown})"
                              f" and no ganzoo export; pass a new or empty folder, or --overwrite to write the "
                              f"export's {len(FILES)} files into it (other files are left alone)")
    return out


def write_export(model: Any, meta: dict[str, Any], out: str | os.PathLike, *, scores: dict[str, Any] | None = None,
                 grid: Callable[[Path], object] | None = None, repo: str | None = None,
                 overwrite: bool = False, compact: bool = False, reproduce: list[str] | None = None,
                 pretrained: bool = False, grid_note: str | None = None) -> Path:
    """Write ``model`` (loaded with ``meta`` by ``load_model``) into folder ``out``; ``grid(path)`` writes the PNG;
    ``compact``: only the weights sampling uses, in float16 (see :func:`exported_tensors`); ``reproduce``: the
    commands that made it (config.json and the card show them); ``pretrained``: the card loads it by the model's name
    (weights a plugin ships); ``grid_note``: why there is no grid, said in the card.

    Each file is written atomically, config.json last (an interrupted export is not taken for a whole one). ``repo``:
    the Hub repository the card tells readers to load from (else ``out`` itself).
    """
    out = check_out_folder(out, overwrite)
    config = export_config(model, meta, scores, compact)
    if reproduce:
        config["reproduce"] = list(reproduce)
    tensors = exported_tensors(model, compact)
    from safetensors.torch import save

    try:
        text = json.dumps(config, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ExportError(f"the run's config cannot be written as JSON ({exc}); it is damaged") from None
    weights = save(tensors, metadata={"format": "pt", "ganzoo.format": FORMAT, "ganzoo.format_version": str(VERSION),
                                      "ganzoo.model": config["model"]})
    try:
        atomic_write(out / WEIGHTS_FILE, weights)
        if grid is not None:
            grid(out / GRID_FILE)
        atomic_write(out / CARD_FILE, model_card(config, source=f"{HUB_PREFIX}{repo}" if repo else str(out),
                                                 grid=grid is not None, tensors=tensors, pretrained=pretrained,
                                                 grid_note=grid_note))
        atomic_write(out / CONFIG_FILE, text)
    except OSError as exc:
        where = exc.filename or out
        raise ExportError(f"cannot write the export to {where}: {os_reason(exc)}. {os_fix(exc)}") from None
    return out


def model_card(config: dict[str, Any], *, source: str, grid: bool = True,
               tensors: dict[str, torch.Tensor] | None = None, pretrained: bool = False,
               grid_note: str | None = None) -> str:
    """README.md of an export: YAML front matter for the Hub, the sample grid (or ``grid_note``: why there is none),
    how to load it, data, scores (``pretrained``: weights a plugin ships, loaded by the model's name)."""
    name, classes = config["model"], config["num_classes"]
    scores = config.get("scores") or {}
    tags = ["ganzoo", "pytorch", "image-generation", name, config.get("family") or "gan"]
    translates = bool(config.get("translates"))
    if config.get("conditional"):
        tags.append("class-conditional")
    if translates:
        tags.append("image-to-image")
    front: dict[str, Any] = {"library_name": "ganzoo", "tags": list(dict.fromkeys(tags))}
    if translates:
        front["pipeline_tag"] = "image-to-image"
    elif not config.get("conditional"):
        front["pipeline_tag"] = "unconditional-image-generation"
    if config.get("dataset"):
        front["datasets"] = [config["dataset"]]
    metrics = [k for k in SCORE_KEYS if not k.endswith("_std") and scores.get(k) is not None]
    if metrics:
        front["metrics"] = metrics
    shape = "×".join(str(s) for s in config["image_shape"])
    names = config.get("class_names") or []
    shown = ", ".join(names[:12]) + (f" … ({len(names)} in all)" if len(names) > 12 else "")
    weights = "the moving average of the generator's weights" if config["ema"] else "the trained weights"
    if config.get("weights_dtype") == "float16":
        weights = ("the moving average of the generator's weights" if config.get("weights_source") ==
                   "moving average" else "the trained weights") + ", stored in float16 (a compact export)"
    lines = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {name}, trained with ganzoo", "",
             f"{config.get('description') or name}. Trained for {int(config.get('step') or 0):,} steps on "
             f"`{config.get('dataset') or 'unknown data'}` (images {shape}, {classes} classes"
             f"{': ' + shown if shown else ''}) with ganzoo {config.get('ganzoo_version') or '?'}"
             f"{', seed ' + str(config['seed']) if config.get('seed') is not None else ''}. "
             f"{'Translations' if translates else 'Samples'} come from "
             f"{weights}" + (" (the trained weights are included too: `--raw`)." if config["ema"] else "."), ""]
    if grid:
        lines += ["![samples](samples.png)", "", f"*{_grid_caption(config)}*", ""]
    elif grid_note:
        lines += [f"*{grid_note}*", ""]
    cli, python = (f"{name} --pretrained", f'"{name}", pretrained=True') if pretrained else (source, f'"{source}"')
    lines += ["## Use it", "",
              "```bash",
              "pip install ganzoo" + (" 'ganzoo[hub]'" if source.startswith(HUB_PREFIX) else ""),
              *_usage(config, cli),
              "```", "",
              "```python",
              "import ganzoo",
              "",
              f'model = ganzoo.load({python})        # eval mode, {weights.replace("the ", "", 1)}',
              *_python_usage(config),
              "```", ""]
    plugin = config.get("plugin") or {}
    if plugin.get("distribution") and plugin["distribution"] != "ganzoo":  # a third party's model: say whose
        lines += [f"`{name}` is registered by the ganzoo plugin distribution `{plugin['distribution']}`"
                  f"{' ' + plugin['version'] if plugin.get('version') else ''}; install it to load this model.", ""]
    if scores:
        lines += ["## Scores", "", "| score | value |", "|---|---|"]
        for key in SCORE_KEYS:
            if scores.get(key) is not None and not key.endswith("_std"):
                std = scores.get(f"{key}_std")
                lines.append(f"| {key} | {scores[key]:.4g}{f' ± {std:.2g}' if std is not None else ''} |")
        lines += ["", "Protocol:", "", "| setting | value |", "|---|---|"]
        lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in (scores.get("protocol") or {}).items()]
        lines.append("")
    if config.get("reproduce"):
        lines += ["## Reproduce it", "", "```bash", *config["reproduce"], "```", ""]
    lines += ["## Training", "", "| hyperparameter | value |", "|---|---|"]
    lines += [f"| {k} | `{json.dumps(v)}` |" for k, v in sorted(config["hparams"].items())]
    data = ", ".join(f"{k}={v}" for k, v in sorted((config.get("dataset_options") or {}).items()))
    lines += ["", f"Data: `{config.get('dataset')}`{' (' + data + ')' if data else ''}"
                  f"{'; folder ' + str(config['data_root']) if config.get('data_root') else ''}.", ""]
    nets = sorted({k.split('.')[1] if k.startswith("ema.") else k.split('.')[0] for k in tensors or {}})
    lines += ["## Files", "",
              f"- `{CONFIG_FILE}`: the model's name, hyperparameters, image shape, classes, data set, scores "
              f"(format `{FORMAT}` version {VERSION})",
              f"- `{WEIGHTS_FILE}`: the weights of {', '.join(nets) or 'the networks'} that sampling uses"
              f"{' and their moving average' if config['ema'] else ''} (safetensors: no pickle; no discriminator, "
              "no optimiser state: an export samples, it does not resume training)"]
    if grid:
        lines.append(f"- `{GRID_FILE}`: the sample grid above")
    return "\n".join(lines) + "\n"


def _grid_caption(config: dict[str, Any]) -> str:
    """What the card's grid shows."""
    if config.get("translates"):
        return ("Translations of images of the training data (seed 0), rows top to bottom: A, A→B, A→B→A, B, B→A, "
                "B→A→B.")
    if config.get("conditional"):
        return "A label sweep: one row per class, the same noise in each column (seed 0)."
    return "Samples, seed 0."


def _usage(config: dict[str, Any], cli: str) -> list[str]:
    """The card's command lines."""
    if config.get("translates"):
        return [f"ganzoo translate {cli} --input my-images/ --to B --out translated/   # domain A images to B",
                f"ganzoo sample {cli} --out samples.png   # the grid above, from the training data"]
    return [f"ganzoo sample {cli} --n 64 --out samples.png",
            f"ganzoo eval {cli}          # FID, IS, KID, precision/recall against the training data"]


def _python_usage(config: dict[str, Any]) -> list[str]:
    """The card's Python lines after ``ganzoo.load``."""
    shape = ", ".join(map(str, config["image_shape"]))
    if config.get("translates"):
        return [f"images = ...                          # (N, {shape}) images of domain A in [-1, 1]",
                "translated = model.translate(images, 0)   # A → B; model.translate(images, 1): B → A"]
    label = ", labels=3" if config.get("conditional") else ""
    return [f"images = model.sample(16{label})        # (16, {shape}) in [-1, 1]"]


# -- reading ---------------------------------------------------------------------------------------------------------
def is_export_source(path: str | os.PathLike) -> bool:
    """True for ``hf://…``, a folder holding config.json or model.safetensors, or one of those two files."""
    text = os.fspath(path)
    if text.startswith(HUB_PREFIX):
        return True
    p = Path(text)
    if p.name in (CONFIG_FILE, WEIGHTS_FILE) and not p.is_dir():
        p = p.parent
    return p.is_dir() and any(os.path.lexists(p / f) for f in (CONFIG_FILE, WEIGHTS_FILE))


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """config.json of an export, checked like a checkpoint's config; an :class:`ExportError` naming it if bad."""
    path = Path(path)
    problem = file_problem(path, MAX_CONFIG_BYTES)
    if problem:
        raise ExportError(f"{path}: {problem}; a ganzoo export holds {CONFIG_FILE} and {WEIGHTS_FILE} (write one "
                          "with 'ganzoo export RUN --out DIR')")

    def no_constant(name: str) -> None:
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        config = json.loads(path.read_bytes().decode("utf-8"), parse_constant=no_constant)
    except (OSError, ValueError, RecursionError) as exc:
        raise ExportError(f"{path} is not valid JSON ({str(exc)[:200]}); it is damaged: export the run again") from None
    if not isinstance(config, dict):
        raise ExportError(f"{path} must hold a JSON mapping, not {type(config).__name__}; it is not a ganzoo export")
    try:
        _check_config(config)
    except ConfigError as exc:
        raise ExportError(f"{path} is damaged or not a ganzoo export: {exc}") from None
    model = config["model"]
    try:
        cls = host().get("models", model).obj
    except UnknownNameError as exc:
        plugin = config.get("plugin") or {}
        dist = f" (distribution {plugin['distribution']!r})" if plugin.get("distribution") else ""
        raise ExportError(f"{path}: model {model!r} is not registered: {exc} Install the plugin that provides "
                          f"it{dist}") from None
    try:
        check_hparams(model, config["hparams"], str(path))
    except ConfigError as exc:
        raise ExportError(f"{exc}; the export is damaged or from another version of {model!r}") from None
    if config.get("translates") is not None and config["translates"] != bool(getattr(cls, "translates", False)):
        raise ExportError(f"{path}: translates is {config['translates']} but model {model!r} "
                          f"{'translates' if config['translates'] is False else 'does not translate'} images; the "
                          "export is damaged")
    if config.get("conditional") is not None and config["conditional"] != bool(cls.conditional):
        raise ExportError(f"{path}: conditional is {config['conditional']} but model {model!r} is "
                          f"{'' if cls.conditional else 'not '}conditional; the export is damaged")
    if config["ema"] and not cls.sample_networks:
        raise ExportError(f"{path}: ema is true but model {model!r} keeps no moving average (no sample_networks)")
    return config


def _check_config(config: dict[str, Any]) -> None:
    """The keys and values of config.json; a ConfigError says which is wrong."""
    unknown = sorted(set(config) - set(_KEYS), key=str)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; config.json holds {', '.join(_KEYS)}")
    if config.get("format") != FORMAT:  # before anything else: a foreign config.json says so first
        raise ConfigError(f"format {config.get('format')!r}: must be {FORMAT!r}")
    for key, (required, ok, rule) in _KEYS.items():
        if key not in config or config[key] is None:
            if required:
                raise ConfigError(f"{key} is missing; it {rule or 'is required'}")
            continue
        if not ok(config[key]):
            raise ConfigError(f"{key} {_short(config[key])}: {rule}")
    check_data_shape(config["image_shape"], config["num_classes"])
    names = config.get("class_names")
    if names is not None and len(names) != config["num_classes"]:
        raise ConfigError(f"class_names: {len(names)} names for {config['num_classes']} classes")
    if config.get("seed") is not None:
        check_seed("seed", config["seed"])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_export(source: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Any, dict[str, Any]]:
    """The model of an export folder or ``hf://USER/REPO[@REVISION]``, in eval mode, and ``meta`` as ``load_model``'s.

    ``meta`` holds ``model``, ``step``, ``dataset``, ``dataset_options``, ``image_shape``, ``num_classes``,
    ``class_names``, ``config`` (config.json: the data set record included) and ``path``. The caller's random
    state is left untouched.
    """
    text = os.fspath(source)
    folder = _hub_snapshot(text) if text.startswith(HUB_PREFIX) else Path(text)
    if folder.name in (CONFIG_FILE, WEIGHTS_FILE) and not folder.is_dir():
        folder = folder.parent
    config = read_config(folder / CONFIG_FILE)
    weights = folder / WEIGHTS_FILE
    problem = file_problem(weights, MAX_WEIGHTS_BYTES)
    if problem:
        raise ExportError(f"{weights}: {problem}; an export needs its weights beside {CONFIG_FILE}: export the run "
                          "again")
    with torch.random.fork_rng(devices=[]):  # the throw-away initialisation must not move the caller's RNG
        model = built(host().get("models", config["model"]).obj, dict(config["hparams"]),
                      tuple(config["image_shape"]), int(config["num_classes"]))
    if config["ema"]:
        model.ema = WeightAverage({n: getattr(model, n) for n in model.sample_networks}, model.ema_decay or 0.999)
    half = config.get("weights_dtype") == "float16"
    model.load_state_dict(_read_weights(weights, model, half), strict=False)  # float16 is copied into float32
    model.to(device).eval()
    model.use_ema = True
    #: what its weights are, when a compact export stored the moving average as the weights themselves
    model.weights_source = config.get("weights_source") if half else None
    meta = {"model": config["model"], "step": int(config.get("step") or 0), "dataset": config.get("dataset"),
            "dataset_options": config.get("dataset_options") or {}, "image_shape": tuple(config["image_shape"]),
            "num_classes": int(config["num_classes"]), "class_names": config.get("class_names"),
            "config": config, "path": text}
    return model, meta


def _read_weights(path: Path, model: Any, half: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of ``path``, checked against what ``model`` samples with (names, shapes, dtypes — float16 for
    floating tensors when ``half`` — finite)."""
    from safetensors import safe_open

    expected = {k: (shape, torch.float16 if half and dtype.is_floating_point else dtype)
                for k, (shape, dtype) in _expected(model).items()}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            keys = list(f.keys())
            missing = [k for k in expected if k not in keys]
            extra = [k for k in keys if k not in expected]
            if missing or extra:
                what = (f"lacks {len(missing)} tensor(s) the model samples with, first {missing[0]!r}" if missing else
                        f"holds {len(extra)} tensor(s) model {model.name!r} does not sample with, first {extra[0]!r}")
                raise ExportError(f"{path} does not fit model {model.name!r}: it {what}; export the run again")
            tensors = {}
            for key in keys:
                shape = tuple(f.get_slice(key).get_shape())
                want_shape, want_dtype = expected[key]
                if shape != want_shape:
                    raise ExportError(f"{path} does not fit model {model.name!r}: tensor {key!r} has shape "
                                      f"{list(shape)}, the model's is {list(want_shape)}")
                tensor = f.get_tensor(key)
                if tensor.dtype != want_dtype:
                    raise ExportError(f"{path} does not fit model {model.name!r}: tensor {key!r} is "
                                      f"{str(tensor.dtype).replace('torch.', '')}, the model's is "
                                      f"{str(want_dtype).replace('torch.', '')}")
                if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all()):
                    raise ExportError(f"{path} holds non-finite weights (NaN or infinity) in {key!r}: the run had "
                                      "diverged or the file was edited; export a good checkpoint of the run")
                tensors[key] = tensor
    except ExportError:
        raise
    except Exception as exc:  # safetensors' own error for a bad header, an OSError, ...
        why = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ExportError(f"{path} is damaged or not a safetensors file ({why[:200]}); export the run again"
                          ) from None
    return tensors


def _expected(model: Any) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Name -> (shape, dtype) of the tensors an export of ``model`` holds."""
    nets = set(_exported_networks(model))
    return {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items() if _kept(k, nets)}


# -- the Hugging Face Hub ------------------------------------------------------------------------------------------
def parse_hub_uri(uri: str) -> tuple[str, str | None]:
    """``hf://USER/REPO[@REVISION]`` as (``USER/REPO``, revision or None); anything else an ExportError."""
    m = _HUB_URI.match(uri)
    if not m or not _REPO.match(m.group("repo")):
        raise ExportError(f"{uri!r} is not a Hub model address: write {HUB_PREFIX}USER/REPO or "
                          f"{HUB_PREFIX}USER/REPO@REVISION")
    return m.group("repo"), m.group("rev")


def _hub(what: str) -> Any:
    try:
        import huggingface_hub
        import huggingface_hub.constants  # the submodule: HF_HUB_OFFLINE and the cache folder
    except ImportError:
        raise ExportError(f"{what} needs huggingface_hub, which is not installed: {_HUB_FIX}") from None
    return huggingface_hub


def _offline(hub: Any) -> bool:
    return bool(getattr(hub.constants, "HF_HUB_OFFLINE", False))


def _hub_problem(exc: BaseException, hub: Any, what: str, download: bool = True) -> str:
    """One line saying why a huggingface_hub call failed and what to do."""
    kinds = {c.__name__ for c in type(exc).__mro__}
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)[:200]
    if "RevisionNotFoundError" in kinds:
        return f"{what}: the repository has no such revision ({first})"
    if "RepositoryNotFoundError" in kinds:
        return (f"{what}: no such model repository on the Hugging Face Hub, or it is private or gated: check the "
                "name, or log in ('hf auth login' or HF_TOKEN)")
    if "HFValidationError" in kinds:
        return f"{what}: {first}; write USER/REPO"
    if download and (_offline(hub) or {"LocalEntryNotFoundError", "OfflineModeIsEnabled"} & kinds):
        why = "HF_HUB_OFFLINE is set" if _offline(hub) else "the Hub cannot be reached"
        return (f"{what} is not in the local Hugging Face cache ({hub.constants.HF_HUB_CACHE}) and {why}: connect "
                f"to the network{' and unset HF_HUB_OFFLINE' if _offline(hub) else ''} to download it once")
    if "HfHubHTTPError" in kinds:
        return f"{what}: the Hugging Face Hub refused ({first}); check the name and your access ('hf auth login')"
    fallback = ", or set HF_HUB_OFFLINE=1 to use the local cache" if download else ""
    return f"{what}: cannot reach the Hugging Face Hub ({type(exc).__name__}: {first}); check the network{fallback}"


def _hub_snapshot(uri: str) -> Path:
    """The local folder of ``hf://USER/REPO[@REVISION]``: huggingface_hub's cache, downloading what it lacks."""
    repo, revision = parse_hub_uri(uri)
    hub = _hub(f"loading {uri}")
    try:
        folder = hub.snapshot_download(repo_id=repo, revision=revision, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE],
                                       library_name="ganzoo", library_version=_version())
    except Exception as exc:  # noqa: BLE001 - huggingface_hub's and the network's errors, said in one line
        raise ExportError(_hub_problem(exc, hub, uri)) from None
    return Path(folder)


def check_hub_push(repo: str) -> None:
    """Refuse ``--push-to-hub repo`` before anything is written: a bad name, no huggingface_hub, or offline."""
    if not _REPO.match(repo or ""):
        raise ExportError(f"--push-to-hub {repo!r}: write the repository as USER/REPO (e.g. me/cgan-mnist)")
    hub = _hub("--push-to-hub")
    if _offline(hub):
        raise ExportError(f"--push-to-hub {repo}: HF_HUB_OFFLINE is set, so huggingface_hub stays off the network; "
                          "unset it (on a machine with network) to push")


def push_to_hub(folder: str | os.PathLike, repo: str, *, private: bool = False) -> str:
    """Upload the export in ``folder`` (its files only) to model repository ``repo``, made if new; returns its URL."""
    check_hub_push(repo)
    hub = _hub("--push-to-hub")
    api = hub.HfApi(library_name="ganzoo", library_version=_version())
    try:
        api.create_repo(repo_id=repo, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(repo_id=repo, repo_type="model", folder_path=str(folder), allow_patterns=list(FILES),
                          commit_message=f"ganzoo export ({_version()})")
    except Exception as exc:  # noqa: BLE001 - huggingface_hub's and the network's errors, said in one line
        why = _hub_problem(exc, hub, f"--push-to-hub {repo}", download=False)
        raise ExportError(f"{why}. The export in {folder} is complete: run the command again, or upload it with "
                          f"'hf upload {repo} {folder}'") from None
    return f"{getattr(hub.constants, 'ENDPOINT', 'https://huggingface.co').rstrip('/')}/{repo}"
