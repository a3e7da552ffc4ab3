"""Speed of DiffAugment (pytest-benchmark): ganzoo.augment against the reference code's indexing and kornia.

    pytest benchmarks/test_bench_augment.py --benchmark-only --benchmark-group-by=param:shape,param:policy

One forward and backward pass through the augmentation of a batch of 64 images that require a gradient (what a
discriminator step costs on top of the networks), per image shape and policy, three ways:

- ``ours``: :func:`ganzoo.augment.diff_augment` (one gather on a zero-padded tensor for translation, a broadcast
  comparison mask for cutout);
- ``reference``: the indexing of the paper's ``DiffAugment_pytorch.py`` (github.com/mit-han-lab/data-efficient-gans):
  a meshgrid of batch/row/column indices into a 1-pixel padded channels-last copy, a mask written by index_put;
  colour is the same arithmetic as ours, so it shares ganzoo's;
- ``kornia``: the closest ``kornia.augmentation`` modules (``RandomBrightness``, ``RandomSaturation`` on 3 channels,
  ``RandomContrast``, ``RandomTranslate``, ``RandomErasing``); skipped when kornia is not installed (ganzoo does
  not depend on it).

``extra_info`` holds ms per batch and the CPU threads (``OMP_NUM_THREADS``), which the figures depend on.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from ganzoo.augment import color, diff_augment, parse_policy

BATCH = 64
SHAPES = [(1, 28, 28), (1, 32, 32), (3, 32, 32)]
POLICIES = ["translation,cutout", "color,translation,cutout"]
IMPLEMENTATIONS = ["ours", "reference", "kornia"]

Augment = Callable[[torch.Tensor], torch.Tensor]


def _reference_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """The reference code's translation: gather by (batch, row, column) index grids from a 1-pixel padded copy."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    b, i, j = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                             torch.arange(w, device=x.device), indexing="ij")
    i = torch.clamp(i + dy + 1, 0, h + 1)
    j = torch.clamp(j + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1).contiguous()
    return padded[b, i, j].permute(0, 3, 1, 2)


def _reference_cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """The reference code's cutout: a ones mask with the clipped square's indices set to 0 by index_put."""
    n, _, h, w = x.shape
    size = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - size[0] % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - size[1] % 2), (n, 1, 1), device=x.device)
    b, i, j = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(size[0], device=x.device),
                             torch.arange(size[1], device=x.device), indexing="ij")
    i = torch.clamp(i + cy - size[0] // 2, 0, h - 1)
    j = torch.clamp(j + cx - size[1] // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[b, i, j] = 0
    return x * mask.unsqueeze(1)


def _reference(policy: str) -> Augment:
    steps = {"color": color, "translation": _reference_translation, "cutout": _reference_cutout}
    fns = [steps[name] for name in parse_policy(policy)]

    def run(x: torch.Tensor) -> torch.Tensor:
        for fn in fns:
            x = fn(x)
        return x
    return run


def _kornia(policy: str, channels: int) -> Augment:
    K = pytest.importorskip("kornia.augmentation")
    steps: dict[str, list[torch.nn.Module]] = {
        # brightness: kornia adds factor - 1, so (0.5, 1.5) is ±0.5; contrast: kornia scales the raw values
        # (DiffAugment scales around the mean); saturation goes through HSV and needs 3 channels (on 1 channel
        # DiffAugment's is the identity); no clipping to [0, 1] (ganzoo's images are in [-1, 1])
        "color": [K.RandomBrightness((0.5, 1.5), clip_output=False, p=1.0)]
        + ([K.RandomSaturation((0.0, 2.0), p=1.0)] if channels == 3 else [])
        + [K.RandomContrast((0.5, 1.5), clip_output=False, p=1.0)],
        # a continuous shift of up to 1/8 of the size, bilinear resampling, zeros outside
        "translation": [K.RandomTranslate((-0.125, 0.125), (-0.125, 0.125), padding_mode="zeros", p=1.0)],
        # a square of a quarter of the area (half the side), always inside the image
        "cutout": [K.RandomErasing(scale=(0.25, 0.25), ratio=(1.0, 1.0), value=0.0, p=1.0)],
    }
    return torch.nn.Sequential(*[m for name in parse_policy(policy) for m in steps[name]])


def _build(implementation: str, policy: str, channels: int) -> Augment:
    if implementation == "ours":
        names = parse_policy(policy)
        return lambda x: diff_augment(x, names)
    if implementation == "reference":
        return _reference(policy)
    return _kornia(policy, channels)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_augment_forward_backward(benchmark: Any, shape: tuple[int, int, int], policy: str,
                                  implementation: str) -> None:
    """Augment 64 images and backpropagate to them: ms per batch."""
    augment = _build(implementation, policy, shape[0])
    torch.manual_seed(0)
    x = (torch.rand(BATCH, *shape) * 2 - 1).requires_grad_()

    def step() -> torch.Tensor:
        x.grad = None
        out = augment(x)
        out.sum().backward()
        return out

    step()  # warm-up
    out = benchmark(step)
    assert out.shape == x.shape and x.grad is not None and x.grad.abs().sum() > 0
    benchmark.extra_info.update(batch_size=BATCH, threads=torch.get_num_threads())
    if not benchmark.disabled:
        benchmark.extra_info["ms_per_batch"] = round(benchmark.stats.stats.mean * 1e3, 4)
