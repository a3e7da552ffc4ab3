"""The Evaluator base class: a frozen network turning images into features (FID, KID) and logits (IS, accuracy)."""
from __future__ import annotations

import hashlib
import os
from typing import Any

import torch
from torch import nn

from ganzoo.metrics.download import RemoteWeights
from ganzoo.metrics.errors import MetricsError

__all__ = [
    "Evaluator", "check_images", "sha256_file",
]


class Evaluator(nn.Module):
    """A frozen network scoring uint8 images ``(N, C, H, W)``: ``forward`` returns ``(features, logits)``.

    Subclasses set the attributes below in ``__init__`` and implement :meth:`forward`. An evaluator never
    leaves eval mode (``train()`` is a no-op), so BatchNorm and Dropout behave the same on every call.
    """

    #: Registry name (or the fitted evaluator's name).
    name: str = ""
    #: Width of the feature vector used by FID and KID.
    num_features: int = 0
    #: Classes of the data set the logits predict, or None when the logits are foreign (InceptionV3's ImageNet).
    num_classes: int | None = None
    #: The (C, H, W) the network reads natively, or None when any size is resized to its input.
    input_shape: tuple[int, int, int] | None = None
    #: How images are resized before the network (stated in every score's protocol).
    resize: str = "none"
    #: SHA-256 of the weights file (stated in every score's protocol).
    weights_sha256: str = ""

    def __init__(self) -> None:
        """Nothing to pass: a subclass builds its network and sets the attributes above in its own ``__init__``."""
        super().__init__()

    @classmethod
    def status(cls) -> str:
        """Whether this evaluator can be built here, without building it: "ready", or what is missing and the fix."""
        return "ready"

    @classmethod
    def remote_weights(cls) -> RemoteWeights | None:
        """The weights file ``ganzoo evaluator download NAME`` fetches for this evaluator (None: it needs none)."""
        return None

    @classmethod
    def missing_weights(cls, **options: Any) -> RemoteWeights | None:
        """The remote weights file still missing before this evaluator can be built with ``options`` (None: none)."""
        remote = cls.remote_weights()
        return remote if remote is not None and not remote.path.is_file() else None

    def train(self, mode: bool = True) -> "Evaluator":
        """Stay in eval mode whatever is asked (torchmetrics and callers may call ``.train()``)."""
        return super().train(False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        """Features ``(N, num_features)`` and logits ``(N, K)`` of uint8 images ``(N, C, H, W)``."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """The device of the evaluator's weights."""
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def check_image_shape(self, image_shape: tuple[int, ...]) -> None:
        """Raise :class:`MetricsError` when this evaluator cannot read images of ``image_shape`` (C, H, W)."""
        shape = tuple(int(s) for s in image_shape)
        if self.input_shape is not None and shape != tuple(self.input_shape):
            raise MetricsError(
                f"evaluator {self.name!r} reads {'×'.join(map(str, self.input_shape))} images, not "
                f"{'×'.join(map(str, shape))}; choose an evaluator that reads them (--evaluator NAME, see 'ganzoo "
                "evaluator list'), or train one with 'ganzoo evaluator fit DATASET'")
        if self.input_shape is None and (len(shape) != 3 or shape[0] not in (1, 3)):
            raise MetricsError(f"evaluator {self.name!r} reads grey or RGB images (C = 1 or 3), got shape {shape}")

    def protocol(self) -> dict[str, Any]:
        """What a score computed with this evaluator must state: name, weights hash, feature width, resize."""
        return {"evaluator": self.name, "weights_sha256": self.weights_sha256, "feature_dim": self.num_features,
                "resize": self.resize}


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_images(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """Validate a batch of uint8 images (N, C, H, W) for scoring; raises :class:`MetricsError` on bad input."""
    if not isinstance(images, torch.Tensor):
        raise MetricsError(f"{what}: expected a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise MetricsError(f"{what}: expected a batch (N, C, H, W), got shape {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise MetricsError(f"{what}: the batch is empty; score at least a few hundred images")
    if images.dtype != torch.uint8:
        if images.is_floating_point() and not torch.isfinite(images).all():
            raise MetricsError(f"{what}: contain NaN or infinite pixels; the model diverged — retrain it, "
                               "or check its sample() output")
        raise MetricsError(f"{what}: expected uint8 pixels in [0, 255], got {images.dtype}; convert generated "
                           "[-1, 1] images with ganzoo.data.to_uint8")
    return images
