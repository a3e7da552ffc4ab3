"""Differentiable augmentation (DiffAugment) of the images a GAN's discriminator sees.

Zhao, Liu, Lin, Zhu & Han, "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020
(arXiv:2006.10738); reference code: github.com/mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py``.
The same kind of random transform is applied to real and to generated images before the discriminator (and inside
the gradient penalty), and it is differentiable, so the generator is trained through it; the discriminator then
cannot memorise a small data set. The policies, as in the reference code:

- ``color``: per image, brightness + U(-0.5, 0.5), saturation × U(0, 2) (around the mean over channels: a no-op
  on one channel), contrast × U(0.5, 1.5) (around the image's mean);
- ``translation``: per image, an integer shift of up to 1/8 of the height and of the width (rounded), zero padding;
- ``cutout``: per image, one rectangle of half the height × half the width zeroed, its centre anywhere in the image
  (so it is clipped at the border).

The shifts and squares are integer index arithmetic (a gather and a mask), not resampling: pixels are moved, never
blurred. Every random number comes from torch's global RNG on the images' device (the harness seeds it and saves
its state, so a resumed run draws the same), one draw per image and parameter: no loop over the batch.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from .errors import ConfigError, did_you_mean

__all__ = ["POLICIES", "Policy", "diff_augment", "parse_policy"]

#: translation: the largest shift as a fraction of the image's height and width (the reference's ratio)
TRANSLATION_RATIO = 0.125
#: cutout: the zeroed rectangle's sides as a fraction of the image's height and width
CUTOUT_RATIO = 0.5
#: the words for "no augmentation"
NONE_WORDS = ("", "none")

Augmentation = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]


def _uniform(x: torch.Tensor, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    """One number per image from U(low, high), shape (N, 1, 1, 1), drawn in float32 and cast to ``x``'s dtype."""
    r = torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=generator)
    return (r * (high - low) + low).to(x.dtype)


def _shifts(n: int, limit: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """One integer per image, uniform in [-limit, limit], shape (n, 1)."""
    return torch.randint(-limit, limit + 1, (n, 1), device=device, generator=generator)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness (+U(-0.5, 0.5)), saturation (×U(0, 2)) and contrast (×U(0.5, 1.5)), per image."""
    x = x + _uniform(x, -0.5, 0.5, generator)
    mean = x.mean(dim=1, keepdim=True)  # over the channels: on one channel mean == x, saturation is the identity
    x = (x - mean) * _uniform(x, 0.0, 2.0, generator) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5, generator) + mean


def translation(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by a random whole number of pixels, up to 1/8 of its height and width; zeros enter."""
    n, c, h, w = x.shape
    sh, sw = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    dy, dx = _shifts(n, sh, x.device, generator), _shifts(n, sw, x.device, generator)
    if sh == 0 and sw == 0:
        return x
    padded = F.pad(x, (sw, sw, sh, sh)).flatten(2)  # (n, c, (h + 2sh)(w + 2sw)): every shifted index is inside
    rows = torch.arange(h, device=x.device) + sh + dy  # (n, h): output row i reads padded row i + dy + sh
    cols = torch.arange(w, device=x.device) + sw + dx  # (n, w)
    index = (rows[:, :, None] * (w + 2 * sw) + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return padded.gather(2, index).view(n, c, h, w)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one rectangle of half the height × half the width per image, its centre uniform over the image."""
    n, _, h, w = x.shape
    size_h, size_w = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    # the reference's draw: the centre in [0, side + (1 - size % 2)), the rectangle starts size // 2 before it
    top = torch.randint(0, h + 1 - size_h % 2, (n, 1), device=x.device, generator=generator) - size_h // 2
    left = torch.randint(0, w + 1 - size_w % 2, (n, 1), device=x.device, generator=generator) - size_w // 2
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_rows = ((rows >= top) & (rows < top + size_h)).to(x.dtype)  # (n, h): 1 on the rectangle's rows
    in_cols = ((cols >= left) & (cols < left + size_w)).to(x.dtype)  # (n, w)
    keep = 1 - in_rows[:, :, None] * in_cols[:, None, :]  # (n, h, w): 0 on the rectangle
    return x * keep[:, None]


#: The DiffAugment policies by name: ``f(images, generator=None) -> images``, each differentiable.
POLICIES: dict[str, Augmentation] = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(text: str) -> tuple[str, ...]:
    """The policy names in ``"translation,cutout"`` (in order; ``""`` or ``"none"``: none), each known and once."""
    if not isinstance(text, str):
        raise ConfigError(f"a DiffAugment policy is a string such as 'translation,cutout', got {text!r}")
    if text.strip().lower() in NONE_WORDS:
        return ()
    names = tuple(part.strip().lower() for part in text.split(","))
    known = ", ".join(sorted(POLICIES))
    for name in names:
        if name not in POLICIES:
            what = f"unknown DiffAugment policy {name!r}" if name else f"an empty name in the policy {text!r}"
            raise ConfigError(f"{what}; choose comma-separated names from {known}, or 'none'."
                              f"{did_you_mean(name, POLICIES) if name else ''}".rstrip("."))
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"the DiffAugment policy {text!r} names {', '.join(map(repr, repeated))} more than once; "
                          "name each at most once")
    return names


def diff_augment(x: torch.Tensor, policy: tuple[str, ...] | str,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` (N, C, H, W) through the policies in order, each with fresh random parameters per image."""
    names = parse_policy(policy) if isinstance(policy, str) else policy
    for name in names:
        try:
            augmentation = POLICIES[name]
        except KeyError:
            raise ConfigError(f"unknown DiffAugment policy {name!r}; choose from {', '.join(sorted(POLICIES))}."
                              f"{did_you_mean(name, POLICIES)}".rstrip(".")) from None
        x = augmentation(x, generator)
    return x


class Policy:
    """A hyperparameter's allowed values: a DiffAugment policy string (``choices = {"augment": Policy()}``)."""

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        try:
            parse_policy(value)
        except ConfigError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(POLICIES))

    def __repr__(self) -> str:
        return "Policy()"

    def __str__(self) -> str:
        return f"comma-separated DiffAugment policies from {', '.join(sorted(POLICIES))}, or none"
