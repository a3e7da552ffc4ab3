"""Evaluators: the networks that turn images into a feature vector (FID, KID) and class logits (IS, accuracy)."""
from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganzoo.metrics.errors import EvaluatorError, MetricsError

__all__ = [
    "Evaluator", "check_images", "fitted_dir", "fitted_evaluators", "list_evaluators", "load_evaluator", "sha256_file",
]


class Evaluator(nn.Module):
    """A frozen network scoring uint8 images ``(N, C, H, W)``: ``forward`` returns ``(features, logits)``.

    Subclasses set the attributes below in ``__init__`` and implement :meth:`forward`. An evaluator never
    leaves eval mode (``train()`` is a no-op), so BatchNorm and Dropout behave the same on every call.
    """

    #: Registry name, e.g. ``"mnist-cnn"``.
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
                f"{'×'.join(map(str, shape))}; choose an evaluator for this data (--evaluator inception-v3, or "
                f"train one with 'ganzoo evaluator fit DATASET')")
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


def fitted_dir() -> Path:
    """Where ``ganzoo evaluator fit`` saves evaluators (``<cache>/evaluators``)."""
    from ganzoo.data import cache_dir

    return cache_dir() / "evaluators"


def fitted_evaluators() -> dict[str, dict[str, Any]]:
    """Evaluators fitted with ``ganzoo evaluator fit``, by name: their sidecar records (hash, data set, accuracy)."""
    out: dict[str, dict[str, Any]] = {}
    folder = fitted_dir()
    if not folder.is_dir():
        return out
    for meta in sorted(folder.glob("*.json")):
        try:
            record = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and meta.with_suffix(".pt").is_file():
            out[meta.stem] = {**record, "path": str(meta.with_suffix(".pt"))}
    return out


def list_evaluators() -> list[dict[str, Any]]:
    """Every evaluator that ``load_evaluator`` accepts by name: registered ones, then fitted ones."""
    from ganzoo.registry import host

    h = host()
    rows = [{"name": n, "kind": "registered", "description": h.table("evaluators")[n].description,
             "plugin": h.table("evaluators")[n].plugin, "dist": h.table("evaluators")[n].dist}
            for n in h.names("evaluators")]
    for row in rows:
        row["status"] = "ready"
        if row["name"] == "inception-v3":
            from ganzoo.metrics import inception

            try:
                row["status"] = f"weights: {inception.find_weights()}"
            except EvaluatorError:
                row["status"] = (f"weights missing: download {inception.URL} into "
                                 f"{inception.hub_weights_path().parent} or set ${inception.WEIGHTS_ENV}")
    for name, rec in fitted_evaluators().items():
        acc = rec.get("heldout_accuracy")
        desc = f"classifier fitted on {rec.get('dataset')}" + (f", held-out accuracy {acc:.2%}" if acc else "")
        rows.append({"name": name, "kind": "fitted", "description": desc, "path": rec["path"],
                     "sha256": rec.get("sha256"), "status": f"file: {rec['path']}"})
    return rows


def load_evaluator(spec: "str | os.PathLike | Evaluator", **options: Any) -> Evaluator:
    """An evaluator by registered name (``mnist-cnn``, ``inception-v3``), fitted name, or path to a ``.pt`` file."""
    from ganzoo.errors import UnknownNameError
    from ganzoo.registry import host

    if isinstance(spec, Evaluator):
        return spec
    name = str(spec)
    table = host().table("evaluators")
    if name in table:
        try:
            evaluator = table[name].obj(**options)
        except TypeError as exc:
            raise MetricsError(f"evaluator {name!r}: bad options {sorted(options)}: {exc}") from None
        if not isinstance(evaluator, Evaluator):
            from ganzoo.errors import PluginError

            raise PluginError(f"evaluator {name!r} (plugin {table[name].plugin!r}) returned "
                              f"{type(evaluator).__name__}, not a ganzoo.metrics.Evaluator")
        return evaluator
    from ganzoo.metrics.classifier import load_classifier

    path = Path(name).expanduser()
    if path.suffix == ".pt" or os.sep in name:
        if not path.is_file():
            raise EvaluatorError(f"evaluator file {str(path)!r} does not exist; pass a file written by "
                                 "'ganzoo evaluator fit', or a registered name ('ganzoo evaluator list')")
        sidecar = path.with_suffix(".json")
        expected = None
        if sidecar.is_file():
            try:
                expected = json.loads(sidecar.read_text()).get("sha256")
            except (OSError, ValueError, AttributeError):
                expected = None
        return load_classifier(path, expected_sha256=expected)
    fitted = fitted_evaluators()
    if name in fitted:
        return load_classifier(fitted[name]["path"], expected_sha256=fitted[name].get("sha256"), name=name)
    known = [r["name"] for r in list_evaluators()]
    close = difflib.get_close_matches(name.lower(), known, n=2, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(
        f"Unknown evaluator {name!r}.{hint} Known: {', '.join(known) or '(none)'}. Pass one of them, a path to a "
        ".pt file written by 'ganzoo evaluator fit', or fit one with 'ganzoo evaluator fit DATASET'.")
