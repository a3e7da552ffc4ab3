"""The standard evaluator ``inception-v3``: torch-fidelity's InceptionV3 with its published weights, found offline.

The weights file is looked up, in order, at an explicit path (``--evaluator-weights``), at ``$GANZOO_INCEPTION_WEIGHTS``,
then in the torch hub cache (``$TORCH_HOME/hub/checkpoints``). It is downloaded only on request (``ganzoo evaluator
download inception-v3``, or ``--download`` on ``eval`` and ``bench``; from ``$GANZOO_INCEPTION_URL`` when set) and
checked against its pinned SHA-256; a missing file is otherwise a clear error naming the file, its URL, where to put it
and the command. Images go in as uint8 with grey repeated to 3 channels, and are
resized to 299×299 with torch-fidelity's TensorFlow-1 compatible bilinear resize (no antialiasing), as TTUR and
torch-fidelity do, so scores compare with published ones.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ganzoo.metrics.download import RemoteWeights, hub_path
from ganzoo.metrics.errors import EvaluatorError, MetricsError
from ganzoo.metrics.evaluators import Evaluator, sha256_file

__all__ = [
    "DOWNLOAD_COMMAND", "FEATURE_DIMS", "FILENAME", "NAME", "SHA256", "SHA256_PREFIX", "URL", "URL_ENV", "WEIGHTS_ENV",
    "InceptionEvaluator", "find_weights", "hub_weights_path",
]

#: Registry name of the standard evaluator.
NAME = "inception-v3"
#: Environment variable naming the weights file.
WEIGHTS_ENV = "GANZOO_INCEPTION_WEIGHTS"
#: torch-fidelity's InceptionV3 weights (converted from TensorFlow's 2015-12-05 graph).
URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
#: The file's name, as torch hub stores it.
FILENAME = URL.rsplit("/", 1)[1]
#: Environment variable naming another URL to download the same file from (a mirror).
URL_ENV = "GANZOO_INCEPTION_URL"
#: The file's SHA-256 (95,628,359 bytes). Not computed here (no network): it is the digest that several independent
#: projects pinning this very file record, and it starts with the file name's 6726825d, torch hub's convention.
SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
#: torch hub's convention: the file name carries the first hex digits of its SHA-256.
SHA256_PREFIX = FILENAME.rsplit("-", 1)[1].split(".")[0]
#: The command that fetches the file.
DOWNLOAD_COMMAND = f"ganzoo evaluator download {NAME}"
#: Feature layers torch-fidelity offers (2048 = pool3, the one FID/KID are published with).
FEATURE_DIMS = (64, 192, 768, 2048)


def hub_weights_path() -> Path:
    """Where torch hub keeps the weights: ``<torch hub dir>/checkpoints/<FILENAME>``."""
    return hub_path(FILENAME)


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
        f"InceptionV3 weights not found at {hub}. Fetch them with '{DOWNLOAD_COMMAND}' (or add --download to "
        f"'ganzoo eval' or 'ganzoo bench'); without network here, get the file {FILENAME} from {URL} (on a machine "
        f"with internet: curl -L -o {FILENAME} {URL}) and either put it at {hub} (the torch hub cache), set "
        f"{WEIGHTS_ENV}=/path/to/{FILENAME}, or pass --evaluator-weights /path/to/{FILENAME}. Offline without it, "
        "score with a classifier evaluator instead ('ganzoo evaluator list').")


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
            return (f"weights missing: run '{DOWNLOAD_COMMAND}' (or put {URL} into {hub_weights_path().parent}, or "
                    f"set ${WEIGHTS_ENV})")

    @classmethod
    def remote_weights(cls) -> RemoteWeights:
        """torch-fidelity's weights file, downloaded into the torch hub cache (``$GANZOO_INCEPTION_URL``: a mirror)."""
        return RemoteWeights(url=URL, path=hub_weights_path(), sha256=SHA256, url_env=URL_ENV,
                             manual=f"set {WEIGHTS_ENV}=/path/to/{FILENAME}, or pass --evaluator-weights PATH")

    @classmethod
    def missing_weights(cls, weights: str | os.PathLike | None = None, **options: Any) -> RemoteWeights | None:
        """The hub cache's file when no weights are found; None when a path (flag or variable) names the file."""
        if weights or os.environ.get(WEIGHTS_ENV):
            return None  # the user named a file: it is used, or reported missing by find_weights, never fetched
        return super().missing_weights()

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
        self.standard_weights = self.weights_sha256 == SHA256
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
