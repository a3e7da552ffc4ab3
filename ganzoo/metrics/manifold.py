"""Precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020) of generated features.

Each estimates the real and the generated manifold as the union of k-nearest-neighbour balls around the samples
(Euclidean, in the evaluator's feature space). Computed by the ``prdc`` package, the density/coverage authors' own
reference implementation, on equal-sized seeded random subsets of the two feature sets: it builds full pairwise
distance matrices (n×n float32, and int64 indices as large while partitioning), so the subset bounds its time and
memory.
"""
from __future__ import annotations

import contextlib
import io
from importlib import metadata
from typing import Any

import torch

from ganzoo.metrics.errors import MetricsError

__all__ = ["PRDC_KEYS", "prdc_protocol", "prdc_scores", "prdc_subset_size"]

#: The scores :func:`prdc_scores` returns, in the order they are shown.
PRDC_KEYS = ("precision", "recall", "density", "coverage")


def prdc_subset_size(n_real: int, n_fake: int, samples: int) -> int:
    """Features drawn from each side: ``samples`` capped at the smaller set (0: the smaller set's size)."""
    return min(n_real, n_fake, samples) if samples > 0 else min(n_real, n_fake)


def _subset(features: torch.Tensor, m: int, generator: torch.Generator) -> torch.Tensor:
    """A random ``m`` rows of ``features`` (all of them, in order, when there are exactly ``m``)."""
    if m >= len(features):
        return features
    return features[torch.randperm(len(features), generator=generator)[:m].sort().values]


def prdc_scores(real: torch.Tensor, fake: torch.Tensor, *, k: int = 5, samples: int = 0,
                seed: int = 0) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` features against ``real`` ones (N, D), with k neighbours.

    Both sides are cut to the same seeded random subset size (:func:`prdc_subset_size`); the global RNG is untouched.
    """
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise MetricsError(f"prdc_scores: expected real and generated features (N, D) of the same D; got "
                           f"{tuple(real.shape)} and {tuple(fake.shape)}")
    if k < 1:
        raise MetricsError(f"prdc_scores: k = {k}; the number of nearest neighbours must be at least 1")
    m = prdc_subset_size(len(real), len(fake), samples)
    if m <= k + 1:
        raise MetricsError(f"prdc_scores: {m} features per side, but k = {k} nearest neighbours need at least "
                           f"{k + 2}; score more images or lower metrics.prdc_k")
    g = torch.Generator().manual_seed(seed)
    r = _subset(real.detach().float().cpu(), m, g)
    f = _subset(fake.detach().float().cpu(), m, g)
    if not (torch.isfinite(r).all() and torch.isfinite(f).all()):
        raise MetricsError("prdc_scores: the features have NaN or infinite entries; check the images and the "
                           "evaluator's weights")
    from prdc import compute_prdc  # here, not at the top: scikit-learn adds start-up time to every command

    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the sample counts; keep --json clean
        out = compute_prdc(r.numpy(), f.numpy(), nearest_k=k)
    return {key: float(out[key]) for key in PRDC_KEYS}


def prdc_protocol(k: int, subset: int, n_real: int, n_fake: int) -> dict[str, Any]:
    """How :func:`prdc_scores` was measured, for a scores protocol."""
    try:
        version = metadata.version("prdc")
    except metadata.PackageNotFoundError:  # pragma: no cover
        version = None

    def side(n: int, what: str) -> str:
        return f"all {n} {what}" if subset >= n else f"random {subset} of {n} {what}"

    return {
        "prdc": "precision/recall (Kynkäänniemi et al. 2019), density/coverage (Naeem et al. 2020): k-nearest-"
                "neighbour balls of evaluator features, Euclidean",
        "prdc_k": k,
        "prdc_samples": subset,
        "prdc_split": f"{side(n_real, 'real')} and {side(n_fake, 'generated')} features, drawn with the seed",
        "prdc_version": version,
    }
