"""``ganzoo translate RUN --input DIR_OR_NPZ --to B --out DIR``: a translation model (cyclegan) maps your images from
one domain to the other: one PNG per image, optionally a side-by-side grid and an ``.npz`` of the results.

Input images must have the model's size. A model of RGB images takes grey ones too (the grey is repeated into the
three channels); a model of grey images refuses an image with colour (RGB with equal channels is grey). Files are
read as an ``imagefolder`` reads them (``ganzoo.imagefiles``): files whose names do not end in an image suffix are
skipped with a warning, an image file that cannot be read is refused naming it. The input is never written to.
"""
from __future__ import annotations

import argparse
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ganzoo import imagefiles
from ganzoo.commands.sample import add_weights_flags, load_for_sampling
from ganzoo.console import console, err_console
from ganzoo.data import to_uint8, to_unit_range
from ganzoo.errors import ConfigError, DataError
from ganzoo.files import atomic_write, file_problem, os_fix, os_reason
from ganzoo.pictures import captioned, write_picture
from ganzoo.sampling import write_npz
from ganzoo.translation import domain_index, domain_label, translate_images

__all__ = ["GRID_PAIRS", "GRID_COLUMNS", "MAX_BATCH", "add_parser", "read_folder", "read_npz", "run"]

#: The most input/output pairs ``--grid`` shows (the first ones), and how many pairs per row.
GRID_PAIRS, GRID_COLUMNS = 64, 8
#: The largest ``--batch-size``.
MAX_BATCH = 65536
_SOURCE_HINT = ("give a folder of image files or an .npz with an 'images' array (N×H×W×C uint8, as 'ganzoo sample "
                "--format npz' writes)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the translate sub-command."""
    p = sub.add_parser(
        "translate", help="map your images to the other domain with a translation model (cyclegan)",
        description="Translate images with a translation model: --to B maps images of domain A (class 0 of its "
                    "data) to domain B (class 1), --to A the reverse. Writes one PNG per input image into --out "
                    "(same name, .png; files of the same names there are replaced); the input is never written to. "
                    "RGB models take grey images too (repeated into three channels); grey models refuse colour.")
    p.add_argument("run", metavar="RUN_DIR_OR_CHECKPOINT",
                   help="a run folder, a checkpoint file, an export folder ('ganzoo export') or hf://USER/REPO")
    p.add_argument("--input", required=True, metavar="DIR_OR_NPZ",
                   help="a folder of image files (PNG, JPEG, BMP, PPM/PGM, TIFF, WebP; not its sub-folders) or an "
                        ".npz with an 'images' array N×H×W×C uint8 ('ganzoo sample --format npz' writes one)")
    p.add_argument("--to", required=True, metavar="DOMAIN",
                   help="the target domain: A or B (or the data set's name of class 0 or 1); the images are of the "
                        "other one")
    p.add_argument("--out", metavar="DIR", help="folder for one PNG per image (made if new; not the --input folder)")
    p.add_argument("--npz", metavar="PATH", help="also (or instead of --out) write every result to one .npz: "
                                                 "'images' N×H×W×C uint8 in input order, 'labels' the target domain")
    p.add_argument("--grid", metavar="PATH", help=f"also write a PNG of the first {GRID_PAIRS} inputs, each above its "
                                                  "translation")
    p.add_argument("--batch-size", type=int, default=64, help="images translated at once (default 64)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_weights_flags(p, "translate with")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the paths, load the model and the images, translate them, write the results and say what was written."""
    source, targets = _check_paths(args)
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise ConfigError(f"--batch-size {args.batch_size}: must be a number in [1, {MAX_BATCH}]")
    model, meta, weights = load_for_sampling(args)
    if not getattr(model, "translates", False):
        raise ConfigError(f"model {meta['model']!r} is not a translation model: it samples from noise; translate with "
                          "a model that maps images between two domains (cyclegan), or draw from this one with "
                          f"'ganzoo sample {args.run}'")
    try:
        target = domain_index(args.to, meta.get("class_names"))
    except ConfigError as exc:
        raise ConfigError(f"--to: {exc}") from None
    pixels, names, note = read_folder(source, model) if source.is_dir() else read_npz(source, model)
    out_files = _out_files(args, names, targets)
    with _progress() as progress:
        results = _translate(model, pixels, 1 - target, args.batch_size, progress)
        written = _write_all(args, pixels, results, out_files, target, meta, progress)
    labels = meta.get("class_names")
    console.print(f"translated {len(pixels)} images {note}from {domain_label(1 - target, labels)} to "
                  f"{domain_label(target, labels)} with {meta['model']} at step {meta['step']}, {weights}: "
                  f"{'; '.join(written)}", highlight=False, markup=False, soft_wrap=True)
    return 0


# -- paths ------------------------------------------------------------------------------------------------------
def _check_paths(args: argparse.Namespace) -> tuple[Path, list[tuple[str, Path]]]:
    """The input path and the outputs given (flag, path), checked before anything is loaded."""
    if not args.out and not args.npz:
        raise ConfigError("give --out DIR (one PNG per image) or --npz PATH (all results in one file), or both")
    source = Path(args.input)
    if not os.path.lexists(source):
        raise DataError(f"--input {source} does not exist; {_SOURCE_HINT}")
    if args.out:
        out = Path(args.out)
        if os.path.lexists(out) and not out.is_dir():
            raise ConfigError(f"--out {out} is a file, not a folder; pass a folder for the translated images")
        if source.is_dir() and out.is_dir() and os.path.samefile(out, source):
            raise ConfigError(f"--out {out} is the --input folder: the translations would mix with (and could "
                              "replace) your images; pass another folder")
    targets = [(flag, Path(value)) for flag, value in (("--npz", args.npz), ("--grid", args.grid)) if value]
    for flag, path in targets:
        if path.is_dir():
            raise ConfigError(f"{flag} {path} is a folder; pass a file name")
    return source, targets


def _out_files(args: argparse.Namespace, names: list[str], targets: list[tuple[str, Path]]) -> list[Path]:
    """The PNG each result goes to (none without --out); a ConfigError if any output would replace an input."""
    pngs = [Path(args.out) / f"{name}.png" for name in names] if args.out else []
    source = Path(args.input)
    inputs = {p.resolve() for p in source.iterdir()} if source.is_dir() else {source.resolve()}
    for flag, path in [("--out", p) for p in pngs] + targets:
        if path.resolve() in inputs:
            raise ConfigError(f"{flag} {path} is one of the input files; pass an output outside --input")
    return pngs


# -- reading ----------------------------------------------------------------------------------------------------
def read_folder(folder: Path, model: Any) -> tuple[torch.Tensor, list[str], str]:
    """The images of ``folder`` as uint8 (N, *model.image_shape) in name order, their file stems, and a note on
    conversions; files without an image suffix are skipped with a warning, anything unreadable refused."""
    files = _image_files(folder)
    c, h, w = model.image_shape
    for path in files:  # every header first: a wrong size is refused before anything is decoded
        width, height, _ = imagefiles.image_header(path)
        if (height, width) != (h, w):
            raise DataError(f"image {path} is {height}×{width} pixels; model {model.name!r} translates {h}×{w} "
                            f"images: resize it to {h}×{w} (or move it out of --input)")
    imagefiles.check_dataset_bytes(f"--input {folder}", len(files), (3, h, w))
    read = [imagefiles.read_image(path, 3) for path in files]
    pixels = torch.stack([_fit_channels(p, c, model, f"image {path}") for p, path in zip(read, files)])
    return pixels, [p.stem for p in files], _grey_note(sum(map(_is_grey, read)), c)


def _image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted; warns about the files skipped; refuses an empty folder and
    two files that would write the same PNG."""
    from torchvision.datasets.folder import IMG_EXTENSIONS  # what imagefolder reads

    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise DataError(f"--input {folder} cannot be read ({os_reason(exc)}); check its permissions") from None
    files = [p for p in entries if p.name.lower().endswith(IMG_EXTENSIONS)]
    skipped = [p.name for p in entries if p not in files and not p.is_dir()]
    if skipped:
        warnings.warn(f"--input {folder}: skipped {len(skipped)} file{'s' * (len(skipped) > 1)} that "
                      f"{'are' if len(skipped) > 1 else 'is'} not an image by name ({_shown(skipped)}); images end "
                      f"in {', '.join(IMG_EXTENSIONS)}", stacklevel=2)
    if not files:
        folders = [p.name for p in entries if p.is_dir()]
        inside = f" (sub-folders are not read: {_shown(folders)})" if folders else ""
        raise DataError(f"--input {folder} holds no image files{inside}; put the images to translate directly in it")
    for path in files:
        problem = file_problem(path, imagefiles.MAX_FILE_BYTES)
        if problem:
            raise DataError(f"image {path}: {problem}; move it out of --input")
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise DataError(f"images {stems[path.stem]} and {path} would both be written as {path.stem}.png; rename "
                            "one of them")
        stems[path.stem] = path
    return files


def read_npz(path: Path, model: Any) -> tuple[torch.Tensor, list[str], str]:
    """The ``images`` array of the .npz at ``path`` (N×H×W×C uint8) as uint8 (N, *model.image_shape), names for
    its outputs (``00000`` …), and a note on conversions; its header is checked before the array is read."""
    problem = file_problem(path, imagefiles.MAX_DATASET_BYTES)
    if problem or not zipfile.is_zipfile(path):
        why = problem or "it is not an .npz (a zip of .npy arrays)"
        raise DataError(f"--input {path}: {why}; {_SOURCE_HINT}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "images" not in npz.files:
                has = ", ".join(npz.files[:6]) or "nothing"
                raise DataError(f"--input {path} holds no 'images' array (it holds: {has}); {_SOURCE_HINT}")
            shape = _npz_header(npz, path, model)
            array = npz["images"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"--input {path} cannot be read as an .npz ({exc}); {_SOURCE_HINT}") from None
    images = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2)
    grey = len(images) if images.shape[1] == 1 else 0
    pixels = _fit_channels(images, model.image_shape[0], model, f"--input {path}")
    width = max(5, len(str(shape[0] - 1)))
    return pixels, [f"{i:0{width}d}" for i in range(shape[0])], _grey_note(grey, model.image_shape[0])


def _npz_header(npz: Any, path: Path, model: Any) -> tuple[int, ...]:
    """The shape of the .npz's ``images`` array, read from its .npy header; a DataError unless it is N×H×W×C uint8
    of the model's size, N ≥ 1 and C 1 or 3."""
    with npz.zip.open("images.npy") as f:
        version = np.lib.format.read_magic(f)
        reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in reader:
            raise DataError(f"--input {path}: 'images' is in .npy format {version}; save it with numpy.savez")
        shape, _, dtype = reader[version](f)
    c, h, w = model.image_shape
    if len(shape) != 4 or dtype != np.uint8 or shape[3] not in (1, 3):
        raise DataError(f"--input {path}: 'images' is {dtype} of shape {shape}; {model.name!r} takes uint8 "
                        f"(0..255) N×{h}×{w}×{c}: convert it (numpy: images.astype('uint8'), channels last)")
    if shape[0] == 0:
        raise DataError(f"--input {path}: 'images' holds no images (shape {shape}); {_SOURCE_HINT}")
    if tuple(shape[1:3]) != (h, w):
        raise DataError(f"--input {path}: the images are {shape[1]}×{shape[2]}; model {model.name!r} translates "
                        f"{h}×{w} images: resize them to {h}×{w}")
    imagefiles.check_dataset_bytes(f"--input {path}", shape[0], (shape[3], h, w))
    return shape


def _is_grey(pixels: torch.Tensor) -> bool:
    """Whether uint8 pixels (…, C, H, W) with C 3 have equal channels everywhere (grey saved as RGB)."""
    return pixels.shape[-3] == 3 and bool((pixels[..., 0:1, :, :] == pixels[..., 1:, :, :]).all())


def _fit_channels(pixels: torch.Tensor, channels: int, model: Any, source: str) -> torch.Tensor:
    """Pixels (…, C, H, W) with the model's ``channels``: grey repeated into RGB, grey RGB as grey; colour into a
    grey model is a DataError naming ``source``."""
    have = pixels.shape[-3]
    if have == channels:
        return pixels
    if channels == 3:
        return pixels.expand(*pixels.shape[:-3], 3, *pixels.shape[-2:]).contiguous()
    if not _is_grey(pixels):
        shape = "×".join(map(str, model.image_shape))
        raise DataError(f"{source} has colour; model {model.name!r} translates grey {shape} images: convert it to "
                        "grey (PIL: image.convert('L'))")
    return pixels[..., :1, :, :].contiguous()


def _grey_note(grey: int, channels: int) -> str:
    """The summary's note on grey images given to an RGB model ("" when none)."""
    return f"({grey} of them grey, read as RGB) " if grey and channels == 3 else ""


def _shown(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (f", … ({len(names)} in all)" if len(names) > most else "")


# -- translating and writing -------------------------------------------------------------------------------------
def _progress() -> Progress:
    """A transient progress display on stderr, as ``eval`` shows it (none when stderr is not a terminal)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True, disable=not err_console.is_terminal)


def _translate(model: Any, pixels: torch.Tensor, source: int, batch_size: int, progress: Progress) -> torch.Tensor:
    """``pixels`` (uint8) translated from domain ``source``, batch by batch, as [-1, 1] floats on the CPU."""
    task = progress.add_task("translating", total=len(pixels))
    out = []
    for start in range(0, len(pixels), batch_size):
        batch = to_unit_range(pixels[start:start + batch_size])
        out.append(translate_images(model, batch, source, batch_size))
        progress.advance(task, len(batch))
    return torch.cat(out)


def _write_all(args: argparse.Namespace, pixels: torch.Tensor, results: torch.Tensor, pngs: list[Path], target: int,
               meta: dict[str, Any], progress: Progress) -> list[str]:
    """Write the PNGs, the npz and the grid that were asked for; what was written, in words."""
    written = []
    task = progress.add_task("writing", total=len(pngs))
    for path, image in zip(pngs, to_uint8(results)):
        _write(path, "--out", lambda p, im=image: atomic_write(p, lambda f: _png(im).save(f, format="PNG")))
        progress.advance(task)
    if pngs:
        written.append(f"{len(pngs)} PNGs in {args.out}")
    if args.npz:
        _write(Path(args.npz), "--npz", lambda p: write_npz(results, torch.full((len(results),), target), p))
        written.append(f"arrays in {args.npz}")
    if args.grid:
        names = meta.get("class_names")
        caption = (f"each input (domain {domain_label(1 - target, names)}) above its translation to "
                   f"{domain_label(target, names)}; {meta['model']} at step {meta['step']}")
        grid = captioned(*_pairs(to_unit_range(pixels), results), caption)
        _write(Path(args.grid), "--grid", lambda p: write_picture(grid, p))
        written.append(f"a side-by-side grid in {args.grid}")
    return written


def _png(image: torch.Tensor) -> Any:
    """A uint8 (C, H, W) tensor as a PIL image (grey or RGB)."""
    from PIL import Image

    array = image.permute(1, 2, 0).numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def _write(path: Path, flag: str, write: Callable[[Path], object]) -> None:
    """``write(path)`` (an atomic write); a one-line error naming ``flag`` when the OS refuses."""
    try:
        write(path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path} ({flag}): {os_reason(exc)}. {os_fix(exc)}") from None


def _pairs(inputs: torch.Tensor, outputs: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The first :data:`GRID_PAIRS` inputs and outputs as grid rows: a row of inputs above a row of their outputs,
    :data:`GRID_COLUMNS` per row (the last rows padded white); and the row length."""
    n = min(len(inputs), GRID_PAIRS)
    columns = min(n, GRID_COLUMNS)
    rows = []
    for start in range(0, n, columns):
        for part in (inputs, outputs):
            row = part[start:min(start + columns, n)]
            pad = torch.ones(columns - len(row), *row.shape[1:])
            rows.append(torch.cat([row, pad]))
    return torch.cat(rows), columns
