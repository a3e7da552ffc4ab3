"""The standard evaluator ``inception-v3``: torch-fidelity's InceptionV3 with its published weights, found offline.

The weights file is looked up, in order, at an explicit path (``--evaluator-weights``), at ``$GANZOO_INCEPTION_WEIGHTS``,
then in the torch hub cache (``$TORCH_HOME/hub/checkpoints``). Nothing is ever downloaded: a missing file is a clear
error naming the file, its URL and where to put it. Images go in as uint8 with grey repeated to 3 channels, and are
resized to 299×299 with torch-fidelity's TensorFlow-1 compatible bilinear resize (no antialiasing), as TTUR and
torch-fidelity do, so scores compare with published ones.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ganzoo.metrics.errors import EvaluatorError, MetricsError
from ganzoo.metrics.evaluators import Evaluator, sha256_file

__all__ = [
    "FEATURE_DIMS", "FILENAME", "NAME", "SHA256_PREFIX", "URL", "WEIGHTS_ENV", "InceptionEvaluator", "find_weights",
    "hub_weights_path",
]

#: Registry name of the standard evaluator.
NAME = "inception-v3"
#: Environment variable naming the weights file.
WEIGHTS_ENV = "GANZOO_INCEPTION_WEIGHTS"
#: torch-fidelity's InceptionV3 weights (converted from TensorFlow's 2015-12-05 graph).
URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
#: The file's name, as torch hub stores it.
FILENAME = URL.rsplit("/", 1)[1]
#: torch hub's convention: the file name carries the first hex digits of its SHA-256.
SHA256_PREFIX = "6726825d"
#: Feature layers torch-fidelity offers (2048 = pool3, the one FID/KID are published with).
FEATURE_DIMS = (64, 192, 768, 2048)


def hub_weights_path() -> Path:
    """Where torch hub keeps the weights: ``<torch hub dir>/checkpoints/<FILENAME>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FILENAME


def find_weights(path: str | os.PathLike | None = None) -> Path:
    """The InceptionV3 weights file: ``path``, else ``$GANZOO_INCEPTION_WEIGHTS``, else the torch hub cache."""
    for source, candidate in (("--evaluator-weights", path), (f"${WEIGHTS_ENV}", os.environ.get(WEIGHTS_ENV))):
        if candidate:
            p = Path(candidate).expanduser()
            if not p.is_file():
                raise EvaluatorError(f"InceptionV3 weights: {source} names {str(p)!r}, which does not exist. "
                                     f"Download {URL} and point {source} at it.")
            return p
    hub = hub_weights_path()
    if hub.is_file():
        return hub
    raise EvaluatorError(
        f"InceptionV3 weights not found, and ganzoo never downloads them. Get the file {FILENAME} from {URL} "
        f"(on a machine with internet: curl -L -o {FILENAME} {URL}) and either put it at {hub} (the torch hub "
        f"cache), set {WEIGHTS_ENV}=/path/to/{FILENAME}, or pass --evaluator-weights /path/to/{FILENAME}. "
        "Offline without it, score with a classifier evaluator instead ('ganzoo evaluator list').")


class InceptionEvaluator(Evaluator):
    """torch-fidelity's InceptionV3: pool3 (or an earlier layer) features and unbiased ImageNet logits."""

    input_shape = None
    num_classes = None

    @classmethod
    def status(cls) -> str:
        """Where the weights file is, or where to put it when it is missing."""
        try:
            return f"weights: {find_weights()}"
        except EvaluatorError:
            return f"weights missing: download {URL} into {hub_weights_path().parent} or set ${WEIGHTS_ENV}"

    def __init__(self, weights: str | os.PathLike | None = None, feature_dim: int = 2048) -> None:
        super().__init__()
        # here, not at the top: torch-fidelity adds about a second to every ganzoo command's start-up
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        if feature_dim not in FEATURE_DIMS:
            raise MetricsError(f"inception-v3: feature_dim {feature_dim} is not offered; choose one of "
                               f"{', '.join(map(str, FEATURE_DIMS))} (2048 is the published protocol)")
        path = find_weights(weights)
        try:  # a safe load first: a damaged or foreign file fails here, with a clear message
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise EvaluatorError(f"InceptionV3 weights {str(path)!r} cannot be read ({type(exc).__name__}); "
                                 f"download {URL} again") from None
        self.weights_sha256 = sha256_file(path)
        self.standard_weights = self.weights_sha256.startswith(SHA256_PREFIX)
        try:
            self.net = FeatureExtractorInceptionV3("inception-v3-compat", [str(feature_dim), "logits_unbiased"],
                                                   feature_extractor_weights_path=str(path))
        except RuntimeError as exc:  # load_state_dict: wrong keys or shapes
            raise EvaluatorError(f"{str(path)!r} does not hold torch-fidelity InceptionV3 weights ({exc}); "
                                 f"download {URL}") from None
        self.net.eval().requires_grad_(False)
        self.name = NAME
        self.num_features = feature_dim
        self.weights_path = str(path)
        self.resize = "bilinear to 299×299, TensorFlow-1 compatible (torch-fidelity), antialias=False"

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pool features (N, feature_dim) and ImageNet logits (N, 1008) of uint8 images (N, 1 or 3, H, W)."""
        if images.dtype != torch.uint8:
            raise MetricsError(f"inception-v3: expected uint8 images, got {images.dtype}")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        features, logits = self.net(images)
        return features.float(), logits.float()

    def protocol(self) -> dict[str, Any]:
        """Name, weights hash (and whether they are the published ones), feature width, resize."""
        return {**super().protocol(), "standard_weights": self.standard_weights,
                "input": "uint8 RGB (grey repeated to 3 channels)"}
