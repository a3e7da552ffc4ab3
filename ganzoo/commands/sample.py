"""``ganzoo sample RUN_DIR_OR_CHECKPOINT``: images from a trained model as a PNG grid or raw ``.npz`` arrays."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch

from ganzoo import pictures, pretrained_dir
from ganzoo.checkpoint import load_model
from ganzoo.commands.dataflags import add_data_flags, data_spec
from ganzoo.console import console
from ganzoo.data import DataSpec
from ganzoo.environment import resolve_device
from ganzoo.errors import ConfigError, did_you_mean
from ganzoo.rng import check_seed
from ganzoo.sampling import TRANSLATION_ROWS, check_label, grid_images, sample_images, write_npz, write_png
from ganzoo.translation import source_data

__all__ = ["FORMATS", "MAX_SAMPLES", "NOISE_OPTIONS", "add_parser", "add_weights_flags", "label_index",
           "load_for_sampling", "run"]

FORMATS = ("png", "npz")
#: The most samples one ``ganzoo sample`` writes (they are held in memory).
MAX_SAMPLES = 100_000
#: The style-mixing grid's row and column sources (``--style-mix``).
STYLE_MIX_ROWS, STYLE_MIX_COLS = 4, 6


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the sample sub-command."""
    p = sub.add_parser(
        "sample", help="samples from a trained model: a PNG grid, raw arrays, a latent grid or a walk (no data "
                       "needed; a translation model's rows A, A→B, A→B→A, ... come from its data)",
        description="Draw samples from a run's newest good checkpoint (or a checkpoint file, or an export). "
                    "Conditional models without --label draw the label sweep: one row per class, the same noise in "
                    "each column. Translation models (cyclegan) draw rows A, A→B, A→B→A, B, B→A, B→A→B from the "
                    "run's data, --n // 6 columns; --format npz writes those images row by row, labelled by the "
                    "domain each is in (0: A, 1: B).")
    p.add_argument("run", metavar="RUN_DIR_OR_CHECKPOINT",
                   help="a run folder, a checkpoint file, an export folder ('ganzoo export') or hf://USER/REPO")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--label", help="class of every sample (conditional models): its index, or its name as the run's "
                                   "data set called it (e.g. a sub-folder of an image folder)")
    p.add_argument("--out", help="output file (default: samples.png or samples.npz)")
    p.add_argument("--format", choices=FORMATS, help="png (a grid) or npz (uint8 images N×H×W×C and labels); "
                                                     "default: from --out's suffix, else png")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    picture = p.add_mutually_exclusive_group()
    picture.add_argument("--latent-grid", type=int, metavar="N",
                         help="an N×N grid walking the latent space at normal quantiles: its two axes for a 2-D "
                              "latent (the VAE manifold), else its two principal directions (stated on the image)")
    picture.add_argument("--interpolate", type=int, metavar="K",
                         help="slerp through K random latents, 8 steps each (one row per class for conditional "
                              "models); --out x.gif writes an animation")
    picture.add_argument("--style-mix", action="store_true",
                         help=f"models with style mixing (stylegan): the paper's "
                              f"{STYLE_MIX_ROWS}×{STYLE_MIX_COLS} grid, coarse styles from the left column's latents "
                              "and fine ones from the top row's")
    p.add_argument("--truncation", type=float, metavar="PSI",
                   help="models with a truncation hyperparameter (stylegan): ψ pulling w towards its average "
                        "(1: none, 0: the average image; default: the run's)")
    add_weights_flags(p, "sample from")
    add_data_flags(p, "translation models: the data set of the grid's source images (default: the run's own)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the model, sample, write the file and say what was written."""
    if not 0 < args.n <= MAX_SAMPLES:
        raise ConfigError(f"--n {args.n}: ask for 1 to {MAX_SAMPLES:,} samples (several runs of sample with other "
                          "--seed values give more)")
    check_seed("--seed", args.seed)
    fmt = args.format or ("npz" if args.out and Path(args.out).suffix.lower() == ".npz" else "png")
    out = Path(args.out or f"samples.{fmt}")
    model, meta, weights = load_for_sampling(args)
    if getattr(model, "translates", False):
        return _translation_grid(args, model, meta, weights, fmt, out)
    _no_data_flags(args, meta)
    args.label = label_index(args.label, meta.get("class_names"))
    check_label(model, args.label)
    if args.truncation is not None:
        if "truncation" not in vars(model.hp):
            raise ConfigError(f"--truncation: model {meta['model']!r} has no truncation trick (stylegan has)")
        if not math.isfinite(args.truncation):
            raise ConfigError(f"--truncation {args.truncation}: give a finite ψ, e.g. 0.7")
        model.hp.truncation = args.truncation
    if args.latent_grid is not None or args.interpolate is not None or args.style_mix:
        return _picture(args, model, meta, weights)
    try:
        if fmt == "npz":
            images, labels = sample_images(model, args.n, label=args.label, seed=args.seed)
            write_npz(images, labels, out)
            c, h, w = images.shape[1:]
            what = f"{len(images)} samples as uint8 arrays ({h}×{w}×{c} per image) with labels"
        else:
            images, labels, nrow = grid_images(model, n=args.n, label=args.label, seed=args.seed)
            write_png(images, out, nrow)
            sweep = model.conditional and args.label is None
            what = (f"label sweep: {model.num_classes} rows (one per class) × {nrow} columns (same noise per column)"
                    if sweep else f"{len(images)} samples, {nrow} per row")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}; pass a writable --out") from None
    console.print(f"wrote {out}: {what} from {meta['model']} at step {meta['step']}, {weights} ({meta['path']})",
                  highlight=False, soft_wrap=True)
    return 0


def add_weights_flags(p: argparse.ArgumentParser, verb: str) -> None:
    """``--pretrained`` (RUN is a model's name: its plugin's shipped weights) and ``--raw`` (the trained weights, not
    their moving average), for the commands that load a model to use it (``verb``: "sample from", "score", ...)."""
    p.add_argument("--pretrained", action="store_true",
                   help="the first argument is a model's name: use the weights its plugin ships ('ganzoo list')")
    p.add_argument("--raw", action="store_true", help=f"{verb} the trained weights, not their moving average "
                                                      "(models trained with ema_decay or ema_half_life)")


def load_for_sampling(args: argparse.Namespace) -> tuple[Any, dict[str, Any], str]:
    """The model ``args.run`` names (``--pretrained``, ``--device``, ``--raw`` applied), its meta, and which weights
    it uses, in words."""
    source = pretrained_dir(args.run) if getattr(args, "pretrained", False) else args.run
    model, meta = load_model(source, device=str(resolve_device(args.device)))
    if args.raw and model.weights_source == "moving average":
        raise ConfigError(f"--raw: {args.run} holds only the moving average (a compact export); sample the run or a "
                          "full export for the trained weights")
    model.use_ema = not args.raw
    weights = "the moving average of its weights" if (model.ema is not None and not args.raw) or \
        model.weights_source == "moving average" else "its trained weights"
    return model, meta, weights


def label_index(label: str | int | None, class_names: list[str] | None) -> int | None:
    """``--label`` as a class index: an integer, or the index of a class name the run recorded."""
    if label is None or isinstance(label, int):
        return label
    names = [str(n) for n in class_names or []]
    if label in names:
        return names.index(label)
    try:
        return int(label)
    except ValueError:
        known = ", ".join(names) if names else "none recorded: give the class index"
        raise ConfigError(f"--label {label!r}: not a class of this run.{did_you_mean(label, names)} Its classes: "
                          f"{known}") from None


#: The options of ``ganzoo sample`` that draw from noise or pick a class: refused for a translation model.
NOISE_OPTIONS = (("--label", "label"), ("--latent-grid", "latent_grid"), ("--interpolate", "interpolate"),
                 ("--style-mix", "style_mix"), ("--truncation", "truncation"))


def _given(args: argparse.Namespace, options: tuple[tuple[str, str], ...]) -> str | None:
    """The first of ``options`` (flag, attribute) given on the command line, else None."""
    return next((flag for flag, key in options if getattr(args, key, None) not in (None, False, [])), None)


def _no_data_flags(args: argparse.Namespace, meta: dict[str, Any]) -> None:
    """Refuse the data flags for a model that samples from noise (they pick a translation model's sources)."""
    flag = _given(args, (("--dataset", "dataset"), ("--data-root", "data_root"), ("--data-option", "data_option")))
    if flag:
        raise ConfigError(f"{flag}: model {meta['model']!r} samples from noise and reads no data; drop {flag} (the "
                          "data flags pick a translation model's source images)")


def _translation_grid(args: argparse.Namespace, model: Any, meta: dict[str, Any], weights: str, fmt: str,
                      out: Path) -> int:
    """A translation model's grid (rows A, A→B, A→B→A, B, B→A, B→A→B) from the run's data: a PNG, or npz arrays."""
    flag = _given(args, NOISE_OPTIONS)
    if flag:
        raise ConfigError(f"{flag}: model {meta['model']!r} translates images between two domains and draws nothing "
                          f"from noise; drop {flag} ('ganzoo sample' draws the rows {', '.join(TRANSLATION_ROWS)}; "
                          "'ganzoo translate RUN --input DIR --to B --out DIR' maps your images)")
    spec = data_spec(args, recorded=DataSpec.from_record(meta.get("config") or {}))
    images, _, nrow = grid_images(model, n=args.n, seed=args.seed, data=source_data(spec, model))
    rows = f"{len(TRANSLATION_ROWS)} rows ({', '.join(TRANSLATION_ROWS)}) × {nrow} columns"
    try:
        if fmt == "npz":
            domains = torch.tensor([0, 1, 0, 1, 0, 1]).repeat_interleave(nrow)  # the domain each row's images are in
            write_npz(images, domains, out)
            what = f"the translation grid's {len(images)} images as uint8 arrays, {rows}, labels their domain (0: A)"
        else:
            write_png(images, out, nrow)
            what = f"translation grid: {rows}"
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}; pass a writable --out") from None
    console.print(f"wrote {out}: {what}, sources from {spec.describe()} (seed {args.seed}); {meta['model']} at step "
                  f"{meta['step']}, {weights} ({meta['path']})", highlight=False, soft_wrap=True)
    return 0


def _picture(args: argparse.Namespace, model: Any, meta: dict[str, Any], weights: str) -> int:
    """``--latent-grid`` or ``--interpolate``: a captioned PNG (or, for an interpolation, a GIF by --out's suffix)."""
    if args.format == "npz":
        raise ConfigError("--format npz writes samples; --latent-grid, --interpolate and --style-mix write pictures "
                          "(PNG or GIF)")
    if args.style_mix:
        if not callable(getattr(model, "style_mix_grid", None)):
            raise ConfigError(f"--style-mix: model {meta['model']!r} has no style mixing (stylegan has)")
        images = model.style_mix_grid(STYLE_MIX_ROWS, STYLE_MIX_COLS, seed=args.seed)
        nrow = STYLE_MIX_COLS + 1
        how = (f"style mixing (seed {args.seed}, psi {model.hp.truncation:g}): each cell has the coarse styles of its "
               "row's left image and the fine styles of its column's top image")
        default = "style-mix.png"
    elif args.latent_grid is not None:
        images, nrow, how = pictures.latent_grid(model, args.latent_grid, label=args.label, seed=args.seed)
        default = "latent-grid.png"
    else:
        if args.label is not None:
            raise ConfigError("--interpolate draws one row per class; drop --label")
        images, nrow, how = pictures.interpolation(model, args.interpolate, seed=args.seed)
        default = "interpolation.png"
    out = Path(args.out or default)
    try:
        if out.suffix.lower() == ".gif" and args.interpolate is not None:
            pictures.write_walk_animation(images, nrow, out)
        else:
            pictures.write_picture(pictures.captioned(images, nrow, how), out)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}; pass a writable --out") from None
    console.print(f"wrote {out}: {how}; {meta['model']} at step {meta['step']}, {weights}", highlight=False,
                  soft_wrap=True)
    return 0
