"""The evaluator as torchmetrics sees it: one forward per batch, shared by the metrics that read its features and
its logits."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["Head", "SharedForward"]


class SharedForward(nn.Module):
    """Runs the evaluator once per batch and hands the same (features, logits) to every metric of that batch."""

    def __init__(self, evaluator: nn.Module) -> None:
        super().__init__()
        self.evaluator = evaluator
        self._batch: torch.Tensor | None = None
        self._out: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, logits) of ``images``, computed once per batch."""
        if images is not self._batch:
            with torch.no_grad():
                self._out = self.evaluator(images)
            self._batch = images
        assert self._out is not None
        return self._out

    def clear(self) -> None:
        """Forget the last batch (frees its outputs)."""
        self._batch = self._out = None


class Head(nn.Module):
    """One output of the evaluator (features or logits) as a torchmetrics ``feature`` module; never trains."""

    def __init__(self, shared: SharedForward, index: int, num_features: int) -> None:
        super().__init__()
        self.shared = shared
        self.index = index
        self.num_features = num_features  # torchmetrics reads it instead of running a dummy image

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """This head's output for ``images``."""
        return self.shared(images)[self.index]

    def train(self, mode: bool = True) -> "Head":
        """Always eval mode: an evaluator never trains."""
        return super().train(False)
