"""``ganzoo sample RUN_DIR_OR_CHECKPOINT``: images from a trained model as a PNG grid or raw ``.npz`` arrays."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganzoo.checkpoint import load_model
from ganzoo.console import console
from ganzoo.environment import resolve_device
from ganzoo.errors import ConfigError, did_you_mean
from ganzoo.rng import check_seed
from ganzoo.sampling import check_label, grid_images, sample_images, write_npz, write_png

__all__ = ["FORMATS", "MAX_SAMPLES", "add_parser", "label_index", "run"]

FORMATS = ("png", "npz")
#: The most samples one ``ganzoo sample`` writes (they are held in memory).
MAX_SAMPLES = 100_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the sample sub-command."""
    p = sub.add_parser(
        "sample", help="samples from a trained model: a PNG grid or raw arrays (no data set needed)",
        description="Draw samples from a run's newest good checkpoint (or a checkpoint file, or an export). "
                    "Conditional models without --label draw the label sweep: one row per class, the same noise in "
                    "each column.")
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
    p.add_argument("--raw", action="store_true", help="sample from the trained weights, not their moving average "
                                                       "(models trained with ema_decay or ema_half_life)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the model, sample, write the file and say what was written."""
    if not 0 < args.n <= MAX_SAMPLES:
        raise ConfigError(f"--n {args.n}: ask for 1 to {MAX_SAMPLES:,} samples (several runs of sample with other "
                          "--seed values give more)")
    check_seed("--seed", args.seed)
    fmt = args.format or ("npz" if args.out and Path(args.out).suffix.lower() == ".npz" else "png")
    out = Path(args.out or f"samples.{fmt}")
    model, meta = load_model(args.run, device=str(resolve_device(args.device)))
    args.label = label_index(args.label, meta.get("class_names"))
    check_label(model, args.label)
    model.use_ema = not args.raw
    weights = "the moving average of its weights" if model.ema is not None and not args.raw else "its trained weights"
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
