"""Built-in evaluators: ``mnist-cnn`` and ``mnist-ab-cnn`` (shipped, offline) and ``inception-v3`` (the standard;
weights found offline)."""
from __future__ import annotations

from ganzoo import hookimpl


@hookimpl
def register_evaluators(register) -> None:
    """Register the embedded MNIST classifier, the two-domain digits classifier and torch-fidelity's InceptionV3."""
    from ganzoo.metrics.embedded import load_embedded_evaluator
    from ganzoo.metrics.embedded_ab import load_ab_evaluator
    from ganzoo.metrics.inception import InceptionEvaluator

    register("mnist-cnn", load_embedded_evaluator,
             "small CNN trained on the embedded MNIST (1×28×28, 64 features, shipped weights, SHA-256 checked)")
    register("mnist-ab-cnn", load_ab_evaluator,
             "small CNN telling the digit in either mnist-ab domain (3×28×28, 64 features, 10 digits, shipped "
             "weights, SHA-256 checked)")
    register("inception-v3", InceptionEvaluator,
             "torch-fidelity InceptionV3 (2048 pool3 features; weights from --evaluator-weights, "
             "$GANZOO_INCEPTION_WEIGHTS or the torch hub cache: 'ganzoo evaluator download inception-v3')")
