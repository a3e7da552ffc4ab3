"""The two-domain digits evaluator ``mnist-ab-cnn``: shipped weights, their recorded SHA-256, and the command that made
them.

It reads 3×28×28 images of either domain of ``mnist-ab`` (grey on black, or coloured on a light tint). The CNN is
trained on the 20 classes (domain, digit), so its features tell the domains apart as well as the digits (a first
version trained on the digits alone had features blind to the domain: FID of real A against real B 0.61, two halves
of one domain 0.06, so FID could not say whether a translation changed the domain). Its logits are folded over the
two domains (logsumexp) into the 10 digits: they score whether a translation kept its source's digit. Rebuild the
shipped file (deterministic: same bytes on the same machine and software; about a minute on one core)::

    python -m ganzoo.metrics.embedded_ab --out ganzoo/assets/mnist-ab-cnn.pt

then paste the printed SHA-256 into :data:`MNIST_AB_CNN_SHA256`. The CNN (the ``mnist-cnn`` design, 3 input channels)
is trained on 4,000 of the 5,000 images of both domains labelled domain × 10 + digit; 1,000 (50 per domain and digit,
seed 0) are held out for its accuracy: of the digit, per domain, and of the domain.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from ganzoo.digits_ab import CLASS_NAMES, NAME as DATASET, two_domain_digits
from ganzoo.metrics.classifier import ClassifierEvaluator, FitConfig, fit_classifier, load_classifier, \
    report_fit, save_classifier, scale_input, stratified_split
from ganzoo.metrics.evaluators import Evaluator

__all__ = ["ASSET", "FIT", "MNIST_AB_CNN_SHA256", "NAME", "DigitEvaluator", "fold_digits", "heldout_split",
           "load_ab_evaluator", "main"]

#: Registry name of the two-domain digits evaluator.
NAME = "mnist-ab-cnn"
#: The shipped weights file (package data).
ASSET = Path(__file__).resolve().parent.parent / "assets" / "mnist-ab-cnn.pt"
#: SHA-256 of :data:`ASSET`, checked at every load.
MNIST_AB_CNN_SHA256 = "10bf955347ba09a9691daa5dc0cb4e06f54fb7fdd11831da6d15a1a404ea8f47"
#: How the shipped weights were trained (the defaults of the training command).
FIT = FitConfig(holdout=1000, epochs=30, seed=0, threads=1)


def fold_digits(logits: torch.Tensor) -> torch.Tensor:
    """Logits of the 20 (domain, digit) classes ``(N, 20)`` → logits of the 10 digits ``(N, 10)`` (logsumexp over
    the domains: the digit's probability is the sum of its two classes')."""
    return torch.logsumexp(logits.reshape(-1, 2, 10), dim=1)


class DigitEvaluator(Evaluator):
    """``mnist-ab-cnn``: the (domain, digit) classifier's features, and its logits folded to the 10 digits."""

    def __init__(self, inner: ClassifierEvaluator) -> None:
        """Wrap the 20-class classifier read from :data:`ASSET`."""
        super().__init__()
        self.inner = inner
        self.name, self.num_features, self.num_classes = inner.name, inner.num_features, 10
        self.input_shape, self.resize, self.weights_sha256 = inner.input_shape, inner.resize, inner.weights_sha256
        self.record = inner.record

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, 64) and digit logits (N, 10) of uint8 images (N, 3, 28, 28)."""
        features, logits = self.inner(images)
        return features, fold_digits(logits)

    def protocol(self) -> dict[str, Any]:
        """The classifier's protocol and what its logits and features are."""
        return {**self.inner.protocol(), "evaluator_classes": "trained on the 20 classes domain × digit (its "
                "features tell the domains apart); logits folded over the domains into the 10 digits"}


def load_ab_evaluator() -> DigitEvaluator:
    """The shipped ``mnist-ab-cnn`` evaluator (3×28×28, 64 features, 10 digit classes), its SHA-256 checked."""
    return DigitEvaluator(load_classifier(ASSET, expected_sha256=MNIST_AB_CNN_SHA256, name=NAME))


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
                    extra={"dataset": DATASET, "labels": "domain × 10 + digit (20 classes)",
                           "command": "python -m ganzoo.metrics.embedded_ab"})
    classes = data.labels * 10 + digits
    net, record = fit_classifier(data.images, classes, 20, cfg, log=print, strata=classes)
    _, test = heldout_split(data.labels, digits, cfg.holdout, cfg.seed)
    net.eval()
    with torch.no_grad():
        _, logits = net(scale_input(data.images[test]))
    by_domain = {}
    for d, domain in enumerate(CLASS_NAMES):
        mine = data.labels[test] == d
        by_domain[domain] = float((fold_digits(logits[mine]).argmax(1) == digits[test][mine]).double().mean())
        print(f"domain {domain}: held-out digit accuracy {by_domain[domain]:.4f} on {int(mine.sum())} images")
    domain_acc = float((logits.argmax(1) // 10 == data.labels[test]).double().mean())
    print(f"held-out domain accuracy {domain_acc:.4f}")
    record["heldout_accuracy_by_domain"] = by_domain
    record["heldout_domain_accuracy"] = domain_acc
    digest = save_classifier(args.out, net, image_shape=data.image_shape, num_classes=20, record=record)
    report_fit(record, args.out, digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
