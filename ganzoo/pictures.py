"""The pictures people look for beside the scores: the latent manifold grid (the Keras VAE tutorial's 15×15 grid at
normal quantiles; for a wider latent a grid over two principal directions), slerp walks through the latent space,
and the animation of a run's fixed-noise grids as it learns. Each picture is a PIL image, captioned with how it was
made."""
from __future__ import annotations

import contextlib
import math
import os
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch

from ganzoo.data import to_uint8
from ganzoo.errors import ConfigError
from ganzoo.files import atomic_write
from ganzoo.guard import plugin_call
from ganzoo.model import GenerativeModel

if TYPE_CHECKING:  # PIL is imported where a picture is drawn
    from PIL import Image

__all__ = [
    "MAX_GRID", "captioned", "interpolation", "latent_grid", "progress_animation", "slerp", "write_animation",
    "write_picture", "write_walk_animation",
]

#: The largest side of a latent grid and the most latents of an interpolation (pictures are for looking at).
MAX_GRID = 32
_PADDING = 2
_STEP_PNG = re.compile(r"^step-(\d+)\.png$")


def latent_grid(model: Any, n: int = 15, *, label: int | None = None, seed: int = 0,
                samples: int = 2000) -> tuple[torch.Tensor, int, str]:
    """``n``×``n`` decoded latents spread at the standard normal's quantiles (``norm.ppf`` of 0.05..0.95), with the
    grid's row length and a caption.

    A 2-D latent is walked along its two axes (the Keras VAE tutorial's manifold). A wider one is walked along two
    principal directions: ``samples`` codes drawn with ``seed`` are decoded, the images' top two principal
    components are found, and each is regressed back onto the codes (GANSpace's recipe, Härkönen et al. 2020).
    """
    dim = _latent_dim(model)
    _bounded("--latent-grid", n, 2, MAX_GRID)
    labels = _labels(model, label, n * n)
    coords = torch.special.ndtri(torch.linspace(0.05, 0.95, n, dtype=torch.float64)).float()
    gy, gx = torch.meshgrid(coords.flip(0), coords, indexing="ij")  # y grows upwards, as in the tutorial's plot
    if dim == 2:
        z = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
        how = "2-D latent: z1 left to right, z2 bottom to top at normal quantiles 0.05..0.95"
    else:
        d1, d2, share, centre = _principal_directions(model, dim, samples, seed, label)
        z = centre + gx.reshape(-1, 1) * d1 + gy.reshape(-1, 1) * d2
        how = (f"{dim}-D latent along its two principal directions (PCA of {samples} decoded samples regressed onto "
               f"z; {share:.0%} of the pixel variance) around a random latent (seed {seed}): left to right, "
               "bottom to top at normal quantiles 0.05..0.95")
    if labels is not None:
        how += f"; class {int(labels[0])}"
    return _decode(model, z, labels), n, how


def interpolation(model: Any, k: int = 2, *, steps: int = 8, seed: int = 0) -> tuple[torch.Tensor, int, str]:
    """Slerp walks through ``k`` random latents (seeded), ``steps`` images from each to the next; one row per
    class for conditional models (the same walk in every row), else one row. Returns images, row length, caption."""
    dim = _latent_dim(model)
    _bounded("--interpolate", k, 2, MAX_GRID)
    _bounded("steps", steps, 2, 64)
    g = torch.Generator().manual_seed(int(seed))
    ends = torch.randn(k, dim, generator=g)
    path = torch.cat([slerp(ends[i], ends[i + 1], torch.linspace(0, 1, steps + 1)[:-1]) for i in range(k - 1)]
                     + [ends[-1:]])
    rows = list(range(model.num_classes)) if model.conditional else [None]
    images = [_decode(model, path, None if row is None else torch.full((len(path),), row)) for row in rows]
    how = f"slerp through {k} random latents (seed {seed}), {steps} steps each"
    if model.conditional:
        how += "; one row per class, the same walk in every row"
    return torch.cat(images), len(path), how


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from ``a`` to ``b`` at fractions ``t`` (linear if they are parallel): ``(len(t), D)``."""
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    t = t.reshape(-1, 1).to(a.dtype)
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def captioned(images: torch.Tensor, nrow: int, caption: str) -> "Image.Image":
    """A grid of [-1, 1] images (torchvision's layout, 2-pixel padding) with ``caption`` written above it."""
    from PIL import Image, ImageDraw
    from torchvision.utils import make_grid  # here, not at the top: torchvision slows every command's start-up

    grid = make_grid(to_uint8(images).float(), nrow=nrow, padding=_PADDING).round().to(torch.uint8)
    picture = Image.fromarray(grid.permute(1, 2, 0).numpy()).convert("RGB")
    chars = max(8, picture.width // 6)  # PIL's default bitmap font is about 6 pixels a character
    lines = textwrap.wrap(caption, chars) or [""]
    out = Image.new("RGB", (picture.width, picture.height + 12 * len(lines) + 4), "white")
    draw = ImageDraw.Draw(out)
    for i, line in enumerate(lines):
        draw.text((2, 2 + 12 * i), line, fill="black")
    out.paste(picture, (0, 12 * len(lines) + 4))
    return out


def write_picture(picture: "Image.Image", path: str | os.PathLike) -> Path:
    """Save a picture as PNG, atomically."""
    return atomic_write(path, lambda f: picture.save(f, format="PNG"))


def progress_animation(run_dir: str | os.PathLike, out: str | os.PathLike | None = None,
                       frame_ms: int = 400) -> Path | None:
    """``samples/progress.gif`` of a run: its fixed-noise grids (``samples/step-*.png``) in step order, each frame
    captioned with its step; None when the run has fewer than two grids."""
    samples = Path(run_dir) / "samples"
    frames = sorted((int(m.group(1)), p) for p in samples.glob("step-*.png") if (m := _STEP_PNG.match(p.name)))
    if len(frames) < 2:
        return None
    return write_animation([(p, f"step {step:,}") for step, p in frames], Path(out or samples / "progress.gif"),
                           frame_ms)


def write_animation(frames: list[tuple[Path, str]], out: Path, frame_ms: int = 400) -> Path:
    """An animated GIF of PNG ``frames`` (path, caption), the last frame held three times as long; atomic."""
    from PIL import Image, ImageDraw

    images = []
    for path, caption in frames:
        with Image.open(path) as im:
            frame = Image.new("RGB", (im.width, im.height + 14), "white")
            frame.paste(im.convert("RGB"), (0, 14))
        ImageDraw.Draw(frame).text((2, 2), caption, fill="black")
        images.append(frame)
    return _save_gif(images, out, frame_ms)


def write_walk_animation(images: torch.Tensor, nrow: int, out: str | os.PathLike, frame_ms: int = 150) -> Path:
    """An interpolation (rows of ``nrow`` images, as :func:`interpolation` returns) as an animated GIF: frame t shows
    step t of every row."""
    rows = len(images) // nrow
    per_row = rows if rows <= 10 else math.ceil(math.sqrt(rows))
    return _save_gif([captioned(images[t::nrow], per_row, f"{t + 1}/{nrow}") for t in range(nrow)], Path(out),
                     frame_ms)


def _save_gif(frames: list["Image.Image"], out: Path, frame_ms: int) -> Path:
    """Frames as a looping GIF, the last held three times as long; atomic."""
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 3]
    return atomic_write(out, lambda f: frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:],
                                                      duration=durations, loop=0))


# -- helpers ---------------------------------------------------------------------------------------------------
def _latent_dim(model: Any) -> int:
    dim = getattr(getattr(model, "hp", None), "latent_dim", None)
    own = getattr(type(model), "decode_latents", None)
    if not isinstance(dim, int) or own is None or own is GenerativeModel.decode_latents:
        raise ConfigError(f"model {getattr(model, 'name', type(model).__name__)!r} does not expose its latent space "
                          "(a latent_dim hyperparameter and a decode_latents method): --latent-grid and --interpolate "
                          "need both")
    return dim


def _bounded(flag: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{flag} {value!r}: must be an integer from {low} to {high}")


def _labels(model: Any, label: int | None, n: int) -> torch.Tensor | None:
    if not model.conditional:
        if label is not None:
            raise ConfigError(f"--label {label}: model {model.name!r} is unconditional; drop --label")
        return None
    label = 0 if label is None else int(label)
    if not 0 <= label < model.num_classes:
        raise ConfigError(f"--label {label}: the model has classes 0..{model.num_classes - 1}")
    return torch.full((n,), label)


@contextlib.contextmanager
def _sampling(model: Any) -> Iterator[None]:
    """The generator's average swapped in, plugin errors blamed on the plugin, the global RNG left as it was."""
    dev = model.device
    with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []), \
            plugin_call(model, "decode_latents"), model.sampling_weights():
        yield


def _decode(model: Any, z: torch.Tensor, labels: torch.Tensor | None, batch: int = 500) -> torch.Tensor:
    out = []
    with _sampling(model):
        for i in range(0, len(z), batch):
            lab = None if labels is None else labels[i:i + batch].to(model.device)
            out.append(model.decode_latents(z[i:i + batch].to(model.device), lab).float().cpu())
    images = torch.cat(out)
    if tuple(images.shape) != (len(z), *model.image_shape):
        raise ConfigError(f"decode_latents of model {model.name!r} returned {tuple(images.shape)}, not "
                          f"{(len(z), *model.image_shape)}")
    return images


def _principal_directions(model: Any, dim: int, samples: int, seed: int, label: int | None
                          ) -> tuple[torch.Tensor, torch.Tensor, float, torch.Tensor]:
    """Two unit latent directions that move the decoded images most (image-space PCA regressed onto z), their share
    of the pixel variance, and a random latent to walk around (all drawn with ``seed``)."""
    g = torch.Generator().manual_seed(int(seed))
    centre = torch.randn(dim, generator=g)
    z = torch.randn(samples, dim, generator=g)
    images = _decode(model, z, _labels(model, label, samples)).flatten(1).double()
    centred = images - images.mean(0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    scores = centred @ v[:2].T  # (samples, 2): each image's position along the top two components
    scores = scores / scores.std(0)
    coef = torch.linalg.lstsq(scores, (z - z.mean(0)).double()).solution  # (2, dim): z ≈ scores · coef
    d1, d2 = (coef[i] / coef[i].norm() for i in range(2))
    share = float((s[:2] ** 2).sum() / (s ** 2).sum())
    return d1.float(), d2.float(), share if math.isfinite(share) else 0.0, centre
