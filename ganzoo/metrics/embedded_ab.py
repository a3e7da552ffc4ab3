"""The two-domain digits evaluator ``mnist-ab-cnn``: shipped weights, their recorded SHA-256, and the command that made
them.

It reads 3×28×28 images of either domain of ``mnist-ab`` (grey on black, or coloured on a light tint) and says which
digit (0-9) they show: its logits score whether a translation kept its source's digit, its features FID in either
domain. Rebuild the shipped file (deterministic: same bytes on the same machine and software; about a minute on one
core)::

    python -m ganzoo.metrics.embedded_ab --out ganzoo/assets/mnist-ab-cnn.pt

then paste the printed SHA-256 into :data:`MNIST_AB_CNN_SHA256`. The CNN (the ``mnist-cnn`` design, 3 input channels)
is trained on 4,000 of the 5,000 images of both domains with their digit labels; 1,000 (50 per domain and digit,
seed 0) are held out for its accuracy, reported per domain.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ganzoo.digits_ab import CLASS_NAMES, NAME as DATASET, two_domain_digits
from ganzoo.metrics.classifier import ClassifierEvaluator, FitConfig, accuracy, fit_classifier, load_classifier, \
    save_classifier, stratified_split

__all__ = ["ASSET", "FIT", "MNIST_AB_CNN_SHA256", "NAME", "heldout_split", "load_ab_evaluator", "main"]

#: Registry name of the two-domain digits evaluator.
NAME = "mnist-ab-cnn"
#: The shipped weights file (package data).
ASSET = Path(__file__).resolve().parent.parent / "assets" / "mnist-ab-cnn.pt"
#: SHA-256 of :data:`ASSET`, checked at every load.
MNIST_AB_CNN_SHA256 = "06518d727b5398c4d0dd8630e6961e1df43fcb3e6a7150076b7d84a3264ebe2b"
#: How the shipped weights were trained (the defaults of the training command).
FIT = FitConfig(holdout=1000, epochs=30, seed=0, threads=1)


def load_ab_evaluator() -> ClassifierEvaluator:
    """The shipped ``mnist-ab-cnn`` evaluator (3×28×28, 64 features, 10 digit classes), its SHA-256 checked."""
    return load_classifier(ASSET, expected_sha256=MNIST_AB_CNN_SHA256, name=NAME)


def heldout_split(domains: torch.Tensor, digits: torch.Tensor, holdout: int = FIT.holdout,
                  seed: int = FIT.seed) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, held-out) of ``mnist-ab`` for the evaluator: the hold-out stratified by domain and digit."""
    return stratified_split(domains * 10 + digits, holdout, seed)


def main(argv: list[str] | None = None) -> int:
    """Train the two-domain digits evaluator and write it to ``--out``; prints its held-out accuracy and SHA-256."""
    parser = argparse.ArgumentParser(prog="python -m ganzoo.metrics.embedded_ab", description=main.__doc__)
    parser.add_argument("--out", default=str(ASSET), help=f"output file (default: {ASSET})")
    parser.add_argument("--epochs", type=int, default=FIT.epochs)
    parser.add_argument("--seed", type=int, default=FIT.seed)
    args = parser.parse_args(argv)
    data, digits = two_domain_digits()
    cfg = FitConfig(holdout=FIT.holdout, epochs=args.epochs, seed=args.seed, threads=FIT.threads,
                    extra={"dataset": DATASET, "labels": "digit (0-9) of either domain",
                           "command": "python -m ganzoo.metrics.embedded_ab"})
    net, record = fit_classifier(data.images, digits, 10, cfg, log=print, strata=data.labels * 10 + digits)
    _, test = heldout_split(data.labels, digits, cfg.holdout, cfg.seed)
    by_domain = {}
    for d, domain in enumerate(CLASS_NAMES):
        idx = test[data.labels[test] == d]
        by_domain[domain] = accuracy(net, data.images[idx], digits[idx])
        print(f"domain {domain}: held-out accuracy {by_domain[domain]:.4f} on {len(idx)} images")
    record["heldout_accuracy_by_domain"] = by_domain
    digest = save_classifier(args.out, net, image_shape=data.image_shape, num_classes=10, record=record)
    print(f"held-out accuracy {record['heldout_accuracy']:.4f} on {record['heldout_count']} images "
          f"(train {record['train_accuracy']:.4f})")
    print(f"wrote {args.out} ({Path(args.out).stat().st_size:,} bytes)")
    print(f"SHA-256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
