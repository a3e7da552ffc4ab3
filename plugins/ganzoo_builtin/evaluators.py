"""Built-in evaluators: ``mnist-cnn`` (shipped, offline) and ``inception-v3`` (the standard; weights found offline)."""
from __future__ import annotations

from ganzoo import hookimpl


@hookimpl
def register_evaluators(register) -> None:
    """Register the embedded MNIST classifier and torch-fidelity's InceptionV3."""
    from ganzoo.metrics.embedded import load_embedded_evaluator
    from ganzoo.metrics.inception import InceptionEvaluator

    register("mnist-cnn", load_embedded_evaluator,
             "small CNN trained on the embedded MNIST (1×28×28, 64 features, shipped weights, SHA-256 checked)")
    register("inception-v3", InceptionEvaluator,
             "torch-fidelity InceptionV3 (2048 pool3 features; weights from --evaluator-weights, "
             "$GANZOO_INCEPTION_WEIGHTS or the torch hub cache: 'ganzoo evaluator download inception-v3')")
