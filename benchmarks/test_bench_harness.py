"""Speed of the training harness (pytest-benchmark): DCGAN on the embedded MNIST at batch 64, side by side with
a minimal hand-written PyTorch loop of the same model and with the common reference recipe.

    pytest benchmarks/test_bench_harness.py --benchmark-only -s

- ``harness``: ``ganzoo.harness.train`` with zoo.yaml's defaults (logging, checkpoints, sample grids, NaN checks);
- ``hand-loop``: the data as one float tensor in [-1, 1], a seeded permutation per epoch, ``model.train_step``;
- ``reference``: torchvision ``MNIST`` (the same 5,000 digits written as IDX files) through a ``DataLoader``
  (``shuffle=True``) with per-sample ``ToTensor`` + ``Normalize`` — the recipe of the source designs.

Each round trains a freshly built model (same seed) with each loop in turn for ``GANZOO_BENCH_STEPS`` steps
(default 200); images/s count the training loop only (model building and data loading excluded; the harness's
figure is its summary's). Targets: harness ≥ 95% of the hand loop and ≥ 2× the reference; the ratios and every
round's figures are in ``extra_info`` and printed (``-s``). ``test_peak_rss`` runs ``ganzoo train`` in a child process
and records its peak resident memory. With ``--benchmark-disable`` each loop runs 3 steps once (a smoke run).
Figures depend on the CPU threads (``OMP_NUM_THREADS``), recorded in ``extra_info``.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import ganzoo
from ganzoo.data import embedded_mnist, to_unit_range
from ganzoo.model import Batch

#: DCGAN when its plugin is installed (the issue's benchmark), else the MLP GAN.
MODEL = "dcgan" if "dcgan" in ganzoo.list_models() else "gan"
BATCH = 64
TARGETS = {"hand-loop": 0.95, "reference": 2.0}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module (the embedded MNIST is parsed once), outside the user's home."""
    path = tmp_path_factory.mktemp("ganzoo-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("GANZOO_CACHE", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def mnist_root(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded digits written as torchvision's MNIST/raw IDX files (the test split: the first 10)."""
    data = embedded_mnist()
    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images, labels = data.images[:, 0].numpy(), data.labels.numpy().astype(np.uint8)
    for prefix, sl in (("train", slice(None)), ("t10k", slice(0, 10))):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images[sl])
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[sl])
    return root


def _write_idx(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _steps(benchmark: Any) -> int:
    return 3 if benchmark.disabled else int(os.environ.get("GANZOO_BENCH_STEPS", "200"))


def _model() -> ganzoo.GenerativeModel:
    torch.manual_seed(0)
    return ganzoo.create_model(MODEL, batch_size=BATCH) if "batch_size" in ganzoo.model_class(MODEL).defaults \
        else ganzoo.create_model(MODEL)


# -- the three loops ------------------------------------------------------------------------------------------
def run_harness(out: Path, steps: int) -> float:
    """``ganzoo.harness.train`` as ``ganzoo train`` runs it; returns its images/s."""
    from ganzoo.harness import TrainOptions, train

    summary = train(TrainOptions(model=MODEL, steps=steps, batch_size=BATCH, seed=0, out=str(out), device="cpu"),
                    quiet=True)
    return summary.images_per_second


def run_hand_loop(steps: int) -> float:
    """The minimal loop: float data in memory, index batches from a seeded permutation per epoch."""
    data = embedded_mnist()
    images, labels = to_unit_range(data.images), data.labels
    model = _model()
    gen = torch.Generator().manual_seed(0)
    per_epoch = len(images) // BATCH
    perm = torch.randperm(len(images), generator=gen)
    t0 = time.perf_counter()
    for step in range(steps):
        k = step % per_epoch
        if k == 0 and step:
            perm = torch.randperm(len(images), generator=gen)
        idx = perm[k * BATCH:(k + 1) * BATCH]
        model.train_step(Batch(images[idx], labels[idx]), step)
    return steps * BATCH / (time.perf_counter() - t0)


def run_reference(root: Path, steps: int) -> float:
    """The reference recipe: torchvision MNIST, DataLoader(shuffle=True), per-sample ToTensor + Normalize."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
    loader = DataLoader(datasets.MNIST(str(root), train=True, transform=transform), batch_size=BATCH,
                        shuffle=True, drop_last=True)
    model = _model()
    step = 0
    t0 = time.perf_counter()
    while step < steps:
        for images, labels in loader:
            model.train_step(Batch(images, labels), step)
            step += 1
            if step == steps:
                break
    return steps * BATCH / (time.perf_counter() - t0)


@pytest.mark.benchmark(group="train-loop")
def test_side_by_side(benchmark: Any, mnist_root: Path, tmp_path: Path) -> None:
    """One round trains with each loop in turn (the order rotates from round to round), so a busy machine slows all
    three alike; the ratios use each loop's best round (``GANZOO_BENCH_ROUNDS``, default 3)."""
    steps = _steps(benchmark)
    rates: dict[str, list[float]] = {"reference": [], "hand-loop": [], "harness": []}
    rounds = iter(range(1000))

    loops = {"reference": lambda i: run_reference(mnist_root, steps), "hand-loop": lambda i: run_hand_loop(steps),
             "harness": lambda i: run_harness(tmp_path / f"run{i}", steps)}

    def one_round() -> None:
        i = next(rounds)
        order = list(loops)[i % 3:] + list(loops)[:i % 3]  # each loop takes each place in turn
        for name in order:
            rates[name].append(loops[name](i))

    benchmark.pedantic(one_round, rounds=1 if benchmark.disabled else int(os.environ.get("GANZOO_BENCH_ROUNDS", "3")),
                       iterations=1)
    best = {name: max(r) for name, r in rates.items()}
    benchmark.extra_info.update(model=MODEL, batch=BATCH, steps=steps, threads=torch.get_num_threads(),
                                images_per_second={k: round(v, 1) for k, v in best.items()},
                                rounds={k: [round(x, 1) for x in v] for k, v in rates.items()})
    for other, target in TARGETS.items():
        benchmark.extra_info[f"harness_vs_{other}"] = round(best["harness"] / best[other], 3)
        benchmark.extra_info[f"harness_vs_{other}_target"] = target
    print(f"\n{MODEL}, batch {BATCH}, {steps} steps, {torch.get_num_threads()} threads — images/s (best round)")
    for name, rate in best.items():
        target = f"   harness / {name}: {best['harness'] / rate:.2f} (target ≥ {TARGETS[name]:g})" \
            if name in TARGETS else ""
        print(f"  {name:<10} {rate:10,.0f}{target}")


@pytest.mark.parametrize("loader", ["harness", "reference"])
@pytest.mark.benchmark(group="data-path")
def test_data_path(benchmark: Any, loader: str, mnist_root: Path) -> None:
    """Batches alone, no model, one epoch: the harness's index batches vs the reference DataLoader recipe."""
    from ganzoo.batches import BatchStream

    data = embedded_mnist()
    batches = 3 if benchmark.disabled else len(data) // BATCH  # one epoch
    if loader == "harness":
        stream = BatchStream(data, BATCH, torch.device("cpu"), seed=0)

        def draw() -> None:
            for _ in range(batches):
                next(stream)
    else:
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms

        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
        dataset = datasets.MNIST(str(mnist_root), train=True, transform=transform)

        def draw() -> None:
            it = iter(DataLoader(dataset, batch_size=BATCH, shuffle=True, drop_last=True))
            for _ in range(batches):
                next(it)

    benchmark.pedantic(draw, rounds=1 if benchmark.disabled else 5, iterations=1)
    if not benchmark.disabled:
        rate = batches * BATCH / benchmark.stats.stats.min
        benchmark.extra_info.update(batches=batches, batch=BATCH, images_per_second=round(rate, 1))
        print(f"\n{loader} data path: {rate:,.0f} images/s ({benchmark.stats.stats.min / batches * 1e3:.3f} ms "
              "per batch of 64)")


@pytest.mark.benchmark(group="memory")
def test_peak_rss(benchmark: Any, cache: Path, tmp_path: Path) -> None:
    """Peak resident memory of a ``ganzoo train`` process (the whole process: Python, torch, data, model)."""
    steps = _steps(benchmark)
    peaks: list[float] = []

    cmd = [sys.executable, "-m", "ganzoo", "train", MODEL, "--steps", str(steps), "--batch-size", str(BATCH),
           "--out", str(tmp_path / "run"), "--overwrite", "--quiet", "--device", "cpu"]
    benchmark.pedantic(lambda: peaks.append(_peak_rss_mib(cmd, cache)), rounds=1, iterations=1)
    baseline = _peak_rss_mib([sys.executable, "-c", "import ganzoo.cli, ganzoo.harness"], cache)
    benchmark.extra_info.update(model=MODEL, steps=steps, peak_rss_mib=round(max(peaks), 1),
                                import_only_rss_mib=round(baseline, 1))
    print(f"\npeak RSS of 'ganzoo train {MODEL} --steps {steps}': {max(peaks):.0f} MiB "
          f"(importing torch and ganzoo alone: {baseline:.0f} MiB)")


def _peak_rss_mib(cmd: list[str], cache: Path) -> float:
    """Run ``cmd`` as a child process and return its peak resident memory in MiB."""
    proc = subprocess.Popen(cmd, env={**os.environ, "GANZOO_CACHE": str(cache)})
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, cmd
    return usage.ru_maxrss / 1024  # KiB on Linux
