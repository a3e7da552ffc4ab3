"""Samples from a trained model: seeded batches, the label sweep grid, PNG grids and raw ``.npz`` arrays."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganzoo.data import ImageData, to_uint8
from ganzoo.errors import ConfigError
from ganzoo.files import atomic_write
from ganzoo.guard import checked_sample
from ganzoo.translation import domain_sources, translate_images

__all__ = [
    "TRANSLATION_ROWS", "check_label", "grid_images", "grid_size", "label_sweep", "sample_images",
    "save_grid", "translation_rows", "write_npz", "write_png",
]

#: The rows of a translation model's grid, top to bottom.
TRANSLATION_ROWS = ("A", "A→B", "A→B→A", "B", "B→A", "B→A→B")


def _generator(model: Any, seed: int) -> torch.Generator:
    return torch.Generator(device=model.device).manual_seed(int(seed))


def check_label(model: Any, label: int | None) -> None:
    """Reject a label the model cannot take (unconditional model, or out of range) with a clear error."""
    if label is None:
        return
    if not model.conditional:
        raise ConfigError(f"--label {label}: model {model.name!r} is unconditional; drop --label")
    if not 0 <= int(label) < model.num_classes:
        raise ConfigError(f"--label {label}: the model has classes 0..{model.num_classes - 1}")


def sample_images(model: Any, n: int, *, label: int | None = None, seed: int = 0,
                  batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` images in [-1, 1] on the CPU and their labels (all ``label``, else cycling 0..K-1 for conditional models).

    Drawn from a generator seeded with ``seed``: the same seed gives the same images. The global RNG is untouched.
    """
    if n <= 0:
        raise ConfigError(f"--n {n}: ask for at least one sample")
    check_label(model, label)
    labels = None
    if model.conditional:
        labels = torch.full((n,), int(label)) if label is not None else torch.arange(n) % model.num_classes
    gen = _generator(model, seed)
    out = []
    with _frozen_rng(model):
        for start in range(0, n, batch_size):
            part = None if labels is None else labels[start:start + batch_size].to(model.device)
            out.append(checked_sample(model, min(batch_size, n - start), part, gen).float().cpu())
    return torch.cat(out), labels


def label_sweep(model: Any, columns: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One row per class, ``columns`` images each; column j uses the same noise in every row (seeded by ``seed``).

    Reading a column top to bottom shows what the label alone changes. Rows are in class order.
    """
    rows, labels = [], []
    with _frozen_rng(model):
        for k in range(model.num_classes):
            # A fresh generator with the same seed per row: every row draws the same noise, only the label differs.
            rows.append(checked_sample(model, columns, torch.full((columns,), k, device=model.device),
                                       _generator(model, seed)).float().cpu())
            labels.append(torch.full((columns,), k))
    return torch.cat(rows), torch.cat(labels)


def translation_rows(model: Any, data: ImageData, columns: int, seed: int = 0) -> torch.Tensor:
    """A translation model's grid, :data:`TRANSLATION_ROWS` top to bottom, ``columns`` images each: real A images,
    them translated to B, and back to A; then the same from B (sources: a seeded choice from ``data``)."""
    rows = []
    with _frozen_rng(model):
        for source in (0, 1):
            real = domain_sources(data, source, columns, seed)
            there = translate_images(model, real, source)
            back = translate_images(model, there, 1 - source)
            rows += [real, there, back]
    width = min(len(r) for r in rows)
    return torch.cat([r[:width] for r in rows])


def grid_images(model: Any, *, n: int = 64, label: int | None = None, seed: int = 0, data: ImageData | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """The images of a sample grid and its row length: a label sweep for conditional models without ``label``
    (``n // classes`` columns, at least one), for translation models :func:`translation_rows` of ``data``
    (``n // 6`` columns), else ``n`` images in a square-ish grid."""
    if getattr(model, "translates", False):
        if data is None:
            raise ConfigError(f"model {model.name!r} translates images: its grid needs source images of both "
                              "domains (the data it was trained on)")
        check_label(model, label)
        images = translation_rows(model, data, max(1, n // len(TRANSLATION_ROWS)), seed)
        return images, None, len(images) // len(TRANSLATION_ROWS)
    if model.conditional and label is None:
        columns = max(1, n // model.num_classes)
        images, labels = label_sweep(model, columns, seed)
        return images, labels, columns
    images, labels = sample_images(model, n, label=label, seed=seed)
    return images, labels, max(1, math.ceil(math.sqrt(n)))


def write_png(images: torch.Tensor, path: str | os.PathLike, nrow: int) -> Path:
    """Save [-1, 1] images as one PNG grid (torchvision's ``save_image``, 2-pixel padding), written atomically."""
    # here, not at the top: torchvision adds about a second to every ganzoo command's start-up
    from torchvision.utils import save_image

    pixels = to_uint8(images).float().div_(255)
    return atomic_write(path, lambda f: save_image(pixels, f, format="png", nrow=nrow, padding=2))


def write_npz(images: torch.Tensor, labels: torch.Tensor | None, path: str | os.PathLike) -> Path:
    """Save [-1, 1] images as raw uint8 arrays: ``images`` (N, H, W, C) and ``labels`` (N,; -1 when unconditional)."""
    pixels = to_uint8(images).permute(0, 2, 3, 1).contiguous().numpy()
    lab = labels.numpy().astype(np.int64) if labels is not None else np.full(len(pixels), -1, dtype=np.int64)
    return atomic_write(path, lambda f: np.savez(f, images=pixels, labels=lab))


def save_grid(model: Any, path: str | os.PathLike, *, n: int = 64, label: int | None = None, seed: int = 0,
              data: ImageData | None = None) -> Path:
    """Write a PNG sample grid of ``model`` to ``path`` (for conditional models the label sweep, for translation
    models the rows of :func:`translation_rows` from ``data``; see grid_images)."""
    images, _, nrow = grid_images(model, n=n, label=label, seed=seed, data=data)
    return write_png(images, path, nrow)


def grid_size(image_shape: tuple[int, int, int], count: int, nrow: int, padding: int = 2) -> tuple[int, int]:
    """(width, height) in pixels of a grid of ``count`` images with ``nrow`` per row (torchvision's layout)."""
    _, h, w = image_shape
    cols = min(nrow, count)
    rows = math.ceil(count / cols)
    return cols * (w + padding) + padding, rows * (h + padding) + padding


class _frozen_rng:
    """Run sampling without moving the global CPU/CUDA random state (so training continues identically)."""

    def __init__(self, model: Any) -> None:
        dev = model.device
        self.fork = torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else [])

    def __enter__(self) -> None:
        self.fork.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.fork.__exit__(*exc)
