"""Speed of scoring (pytest-benchmark): 10,000 generated 28×28 images end to end, and the real-statistics cache.

    pytest benchmarks/test_bench_metrics.py --benchmark-only

The figures depend on the CPU threads (``OMP_NUM_THREADS``); each result records them in ``extra_info``.
"""
from __future__ import annotations

import shutil

import pytest
import torch

import ganzoo
from ganzoo.metrics import evaluate, load_evaluator, real_statistics


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Keep the benchmark's caches out of the user's home."""
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("model_name", ["gan", "dcgan"])
def test_score_10k_generated_images(benchmark, model_name: str, tmp_path) -> None:
    """Generate 10,000 images, extract mnist-cnn features and compute FID, IS, KID and precision/recall/density/
    coverage (5,000 vs 5,000 features, zoo.yaml's metrics.prdc_samples; real statistics cached)."""
    model = ganzoo.create_model(model_name)
    evaluate(model, n=200, cache_dir=tmp_path)  # warm the real-statistics cache: this measures the fake side
    scores = benchmark.pedantic(evaluate, args=(model,), kwargs={"n": 10_000, "cache_dir": tmp_path},
                                rounds=3, iterations=1)
    assert scores["protocol"]["fake_count"] == 10_000 and scores["real_stats_cached"]
    assert 0 <= scores["coverage"] <= 1 and scores["protocol"]["prdc_samples"] == 5000
    benchmark.extra_info.update(threads=torch.get_num_threads(), images=10_000, model=model_name,
                                evaluator=scores["protocol"]["evaluator"])


@pytest.mark.parametrize("cached", [False, True], ids=["miss", "hit"])
def test_real_statistics_cache(benchmark, cached: bool, tmp_path) -> None:
    """The 5,000 embedded MNIST digits' evaluator features: computed (miss) vs read from the cache (hit)."""
    evaluator = load_evaluator("mnist-cnn")
    folder = tmp_path / "stats"
    real_statistics(evaluator, "mnist-embedded", cache_dir=folder)

    def setup():
        if not cached:
            shutil.rmtree(folder, ignore_errors=True)
        return (evaluator, "mnist-embedded"), {"cache_dir": folder}

    stats = benchmark.pedantic(real_statistics, setup=setup, rounds=5, iterations=1)
    assert stats.cache_hit is cached and stats.count == 5000
    benchmark.extra_info.update(threads=torch.get_num_threads(), real_images=5000)
