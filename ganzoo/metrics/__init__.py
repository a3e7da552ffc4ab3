"""Scores of generated images — FID, Inception Score, KID, precision, recall, density, coverage, class accuracy,
intra-class FID — with their protocol.

::

    from ganzoo.metrics import evaluate, frechet_distance
    scores = evaluate(model, dataset="mnist-embedded", n=10_000)   # evaluator from zoo.yaml's datasets section
    scores["fid"], scores["protocol"]["weights_sha256"]

Evaluators (feature extractors) are plugins (hook ``register_evaluators``; ganzoo's own are in
``ganzoo_builtin.evaluators``), and ``ganzoo evaluator fit DATASET`` trains more.
"""
from __future__ import annotations

from ganzoo.metrics.cache import RealStats
from ganzoo.metrics.errors import EvaluatorError, MetricsError
from ganzoo.metrics.evaluators import Evaluator
from ganzoo.metrics.lookup import list_evaluators, load_evaluator
from ganzoo.metrics.frechet import frechet_distance
from ganzoo.metrics.manifold import prdc_scores
from ganzoo.metrics.scores import (Scorer, dataset_evaluator, evaluate, extract, prepare_scoring, real_statistics,
                                   score_images)

__all__ = [
    "Evaluator", "EvaluatorError", "MetricsError", "RealStats", "Scorer", "dataset_evaluator", "evaluate", "extract",
    "frechet_distance", "list_evaluators", "load_evaluator", "prdc_scores", "prepare_scoring", "real_statistics",
    "score_images",
]
