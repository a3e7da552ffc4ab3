"""The embedded MNIST evaluator ``mnist-cnn``: shipped weights, their recorded SHA-256, and the command that made them.

Rebuild the shipped file (deterministic: same bytes on the same machine and software; about 30 s on one core)::

    python -m ganzoo.metrics.embedded --out ganzoo/assets/mnist-cnn.pt

then paste the printed SHA-256 into :data:`MNIST_CNN_SHA256`. The CNN (4 conv layers, ~66k parameters) is trained
on 4,000 of the 5,000 embedded MNIST digits; 1,000 (100 per class, seed 0) are held out for its accuracy.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganzoo.data import embedded_mnist
from ganzoo.metrics.classifier import ClassifierEvaluator, FitConfig, fit_classifier, load_classifier, \
    report_fit, save_classifier

__all__ = ["ASSET", "FIT", "MNIST_CNN_SHA256", "NAME", "load_embedded_evaluator", "main"]

#: Registry name of the embedded MNIST evaluator.
NAME = "mnist-cnn"
#: The shipped weights file (package data).
ASSET = Path(__file__).resolve().parent.parent / "assets" / "mnist-cnn.pt"
#: SHA-256 of :data:`ASSET`, checked at every load.
MNIST_CNN_SHA256 = "86ee8c9f6220a9e0457de4e832c5ab75ae40f4bc470d51270d3b30d605fc887b"
#: How the shipped weights were trained (the defaults of the training command).
FIT = FitConfig(holdout=1000, epochs=12, seed=0, threads=1)


def load_embedded_evaluator() -> ClassifierEvaluator:
    """The shipped ``mnist-cnn`` evaluator (1×28×28, 64 features, 10 classes), its SHA-256 checked."""
    return load_classifier(ASSET, expected_sha256=MNIST_CNN_SHA256, name=NAME)


def main(argv: list[str] | None = None) -> int:
    """Train the embedded MNIST evaluator and write it to ``--out``; prints its held-out accuracy and SHA-256."""
    parser = argparse.ArgumentParser(prog="python -m ganzoo.metrics.embedded", description=main.__doc__)
    parser.add_argument("--out", default=str(ASSET), help=f"output file (default: {ASSET})")
    parser.add_argument("--epochs", type=int, default=FIT.epochs)
    parser.add_argument("--seed", type=int, default=FIT.seed)
    args = parser.parse_args(argv)
    data = embedded_mnist()
    cfg = FitConfig(holdout=FIT.holdout, epochs=args.epochs, seed=args.seed, threads=FIT.threads,
                    extra={"dataset": data.name, "command": "python -m ganzoo.metrics.embedded"})
    net, record = fit_classifier(data.images, data.labels, data.num_classes, cfg, log=print)
    digest = save_classifier(args.out, net, image_shape=data.image_shape, num_classes=data.num_classes,
                             record=record)
    report_fit(record, args.out, digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
