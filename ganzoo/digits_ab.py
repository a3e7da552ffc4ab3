"""The offline two-domain digits ``mnist-ab``, built from the embedded MNIST for unpaired image-to-image translation.

The 5,000 embedded digits are split, per digit and with a fixed seed, into two disjoint halves of 2,500 (250 per
digit each), so no image of one domain is a rendering of an image of the other: nothing is paired.

- Domain A (class 0): the digit as it is, grey on black, as 3 channels (R = G = B).
- Domain B (class 1): the other half's digits drawn in a saturated colour (a random hue per image, HSV saturation
  and value in [0.8, 1]) on a light, faintly tinted background (saturation in [0, 0.15], value in [0.85, 0.95]),
  blended by the digit's intensity: pixel = background · (1 − a) + colour · a with a = digit / 255.

Everything is drawn from fixed ``torch.Generator`` seeds: every call returns the same bytes (on one torch version).
Building takes a few tens of milliseconds once the embedded MNIST is cached, so the result is not cached on disk.
"""
from __future__ import annotations

import torch

from ganzoo.data import ImageData, embedded_mnist

__all__ = ["CLASS_NAMES", "NAME", "SEED", "colour_digits", "source_indices", "split_sources", "two_domain_digits"]

#: Registry name of the data set.
NAME = "mnist-ab"
#: The domains' class names: label 0 is domain A (grey on black), label 1 domain B (colour on light).
CLASS_NAMES = ["A", "B"]
#: Seed of the split into halves; the colours are drawn from ``SEED + 1``.
SEED = 13


def split_sources(digits: torch.Tensor, seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (A, B) of two disjoint halves of the images, each digit split in half with ``seed``; each sorted."""
    g = torch.Generator().manual_seed(seed)
    a, b = [], []
    for d in torch.unique(digits).tolist():
        idx = torch.nonzero(digits == d).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        half = idx.numel() // 2
        a.append(idx[:half])
        b.append(idx[half:])
    return torch.cat(a).sort().values, torch.cat(b).sort().values


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(N,) hue in [0, 1), saturation and value in [0, 1] → (N, 3) RGB in [0, 1]."""
    n = torch.tensor([5.0, 3.0, 1.0])
    k = (n[None, :] + h[:, None] * 6.0) % 6.0
    return v[:, None] - v[:, None] * s[:, None] * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)


def colour_digits(digits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 grey digits (N, 1, H, W) → uint8 (N, 3, H, W): a saturated random colour on a light random tint."""
    n = digits.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    fg = _hsv_to_rgb(torch.rand(n, generator=generator), uniform(0.8, 1.0), uniform(0.8, 1.0))
    bg = _hsv_to_rgb(torch.rand(n, generator=generator), uniform(0.0, 0.15), uniform(0.85, 0.95))
    a = digits.float() / 255.0
    pixels = bg[:, :, None, None] * (1.0 - a) + fg[:, :, None, None] * a
    return pixels.mul(255.0).round().clamp(0, 255).to(torch.uint8)


def source_indices() -> torch.Tensor:
    """For each image of ``mnist-ab`` (in its order), the index of the embedded MNIST digit it was made from."""
    a, b = split_sources(embedded_mnist().labels)
    return torch.cat([a, b])


def two_domain_digits() -> tuple[ImageData, torch.Tensor]:
    """The ``mnist-ab`` data set (A images first, then B; labels = domain) and the digit (0-9) of every image."""
    source = embedded_mnist()
    a, b = split_sources(source.labels)
    grey = source.images[a].expand(-1, 3, -1, -1).contiguous()
    colour = colour_digits(source.images[b], torch.Generator().manual_seed(SEED + 1))
    images = torch.cat([grey, colour])
    labels = torch.cat([torch.zeros(len(a), dtype=torch.long), torch.ones(len(b), dtype=torch.long)])
    digits = torch.cat([source.labels[a], source.labels[b]]).long()
    return ImageData(NAME, images, labels, 2, list(CLASS_NAMES)), digits
