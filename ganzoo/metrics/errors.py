"""The errors the metrics raise: each names the cause and the fix."""
from __future__ import annotations

from ganzoo.errors import GanzooError

__all__ = ["EvaluatorError", "MetricsError"]


class MetricsError(GanzooError, ValueError):
    """Scores cannot be computed from these inputs (too few samples, empty or NaN images, mismatched shapes)."""


class EvaluatorError(GanzooError):
    """An evaluator's weights are missing, damaged, or do not match their recorded SHA-256."""
