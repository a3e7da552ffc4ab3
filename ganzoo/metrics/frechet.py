"""The Fréchet distance between two Gaussians, in float64 (the F of FID)."""
from __future__ import annotations

from typing import Any

import torch

from ganzoo.metrics.errors import MetricsError

__all__ = ["frechet_distance"]


def _as_float64(name: str, value: Any) -> torch.Tensor:
    t = torch.as_tensor(value).detach().to(device="cpu", dtype=torch.float64)
    if not torch.isfinite(t).all():
        raise MetricsError(f"frechet_distance: {name} has NaN or infinite entries; the features it was computed "
                           "from are broken (check the images for NaN)")
    return t


def _psd_sqrt(sigma: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a positive semi-definite matrix (negative round-off eigenvalues clipped)."""
    vals, vecs = torch.linalg.eigh(sigma)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Squared Fréchet distance ‖μ1−μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½) between two Gaussians, computed in float64.

    Tr((Σ1Σ2)^½) is taken as the sum of the square roots of the eigenvalues of the symmetric PSD matrix
    Σ1^½ Σ2 Σ1^½ (same spectrum), which stays exact for singular covariances (fewer samples than features).
    Accepts tensors or arrays; raises :class:`MetricsError` for mismatched shapes or non-finite input.
    """
    m1, m2 = _as_float64("mu1", mu1), _as_float64("mu2", mu2)
    s1, s2 = _as_float64("sigma1", sigma1), _as_float64("sigma2", sigma2)
    d = m1.numel()
    if m1.dim() != 1 or m2.shape != m1.shape or s1.shape != (d, d) or s2.shape != (d, d):
        raise MetricsError(f"frechet_distance: expected means of shape (D,) and covariances (D, D) for the same D; "
                           f"got mu1 {tuple(m1.shape)}, sigma1 {tuple(s1.shape)}, mu2 {tuple(m2.shape)}, "
                           f"sigma2 {tuple(s2.shape)}")
    s1 = (s1 + s1.T) / 2
    s2 = (s2 + s2.T) / 2
    root1 = _psd_sqrt(s1)
    middle = root1 @ s2 @ root1
    tr_covmean = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    value = (m1 - m2).square().sum() + s1.trace() + s2.trace() - 2 * tr_covmean
    return float(value.clamp_min(0))
