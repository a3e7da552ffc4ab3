"""Speed of every registered model (pytest-benchmark): one training step and sampling throughput.

    pytest benchmarks/test_bench_models.py --benchmark-only

Each model is built with zoo.yaml's hyperparameters for 1×28×28 images (the embedded MNIST) and its own batch
size; a third-party plugin's models are measured the moment they are installed. ``extra_info`` holds images/s
and the CPU threads (``OMP_NUM_THREADS``), which the figures depend on.
"""
from __future__ import annotations

from typing import Any

import pytest
import torch

import ganzoo
from ganzoo.sampling import sample_images
from ganzoo.testing import tiny_batch
from ganzoo.translation import translate_images

SAMPLES = 1000


def _model(name: str) -> ganzoo.GenerativeModel:
    torch.manual_seed(0)
    return ganzoo.create_model(name, image_shape=(1, 28, 28))  # 10 classes; a translation model's two domains


@pytest.mark.parametrize("name", ganzoo.list_models())
def test_train_step(benchmark: Any, name: str) -> None:
    """One ``train_step`` at the model's batch size (all its critic/generator updates included)."""
    model = _model(name)
    batch_size = int(getattr(model.hp, "batch_size", 64))
    batch = tiny_batch((1, 28, 28), n=batch_size, num_classes=model.num_classes, seed=0)
    model.train()
    model.train_step(batch, 0)  # warm-up: lazy allocations, oneDNN primitive caches
    step = iter(range(1, 10**9))
    benchmark(lambda: model.train_step(batch, next(step)))
    benchmark.extra_info.update(batch_size=batch_size, threads=torch.get_num_threads())
    if not benchmark.disabled:
        benchmark.extra_info["images_per_second"] = round(batch_size / benchmark.stats.stats.mean, 1)


@pytest.mark.parametrize("name", ganzoo.list_models())
def test_sampling(benchmark: Any, name: str) -> None:
    """Generating 1,000 images in evaluation mode (what scoring and sample grids do), seeded; a translation model
    translates 1,000 images of domain A."""
    model = _model(name)
    model.eval()
    if model.translates:
        sources = tiny_batch((1, 28, 28), n=SAMPLES, num_classes=2, seed=0).images
        images = benchmark(translate_images, model, sources, 0)
    else:
        images, _ = benchmark(sample_images, model, SAMPLES, seed=0)
    assert images.shape == (SAMPLES, 1, 28, 28)
    benchmark.extra_info.update(threads=torch.get_num_threads())
    if not benchmark.disabled:
        benchmark.extra_info["images_per_second"] = round(SAMPLES / benchmark.stats.stats.mean, 1)
