"""Speed of the training harness against the source designs' own training loops (pytest-benchmark).

    pytest benchmarks/test_bench_harness.py --benchmark-only -s
    GANZOO_BENCH_STEPS=20 GANZOO_BENCH_ROUNDS=1 pytest benchmarks/test_bench_harness.py -k side_by_side -s

Two designs (``benchmarks/designs.py``), at batch 64 on the CPU, each trained two ways:

- ``script``: the design's own training loop and data pipeline, written as its script does it —
  ``tf-dcgan``, the TensorFlow tutorial's DCGAN (MNIST in memory, shuffled batches, one G forward and two
  gradient tapes per step; the tutorial's batch is 256) and ``pytorch-gan-dcgan``, the PyTorch-GAN collection's
  ``dcgan.py`` (torchvision MNIST with per-sample ``Resize(32)``/``ToTensor``/``Normalize`` through a
  ``DataLoader(shuffle=True)``; the speed yardstick of issue 10);
- ``ganzoo``: the same networks as a ganzoo plugin model (``designs`` registered in-process, with the data set
  ``mnist-embedded-32`` for the 32×32 design), trained by ``ganzoo.harness.train`` as ``ganzoo train`` runs it
  (zoo.yaml's logging, checkpoints, sample grids, NaN checks; the figure is its run summary's);

and each at fp32 and with ``--amp`` (bf16 autocast on the CPU; the script wraps its forward passes and losses in
``torch.autocast("cpu", dtype=torch.bfloat16)``). All train the embedded 5,000 digits.

Each round trains every loop once for ``GANZOO_BENCH_STEPS`` steps (default 100) from a freshly built model; the
designs, and a design's four loops, take turns in an order that rotates from round to round, so a busy machine slows
all alike; each loop's best round (``GANZOO_BENCH_ROUNDS``, default 3) counts. Images/s count the training loop only
(model building and data set loading excluded). ``extra_info`` holds, per design, the ratios ganzoo / script at fp32
and with --amp, ganzoo --amp / script fp32, every round's figures and the last losses; ``-s`` prints them.
Targets of issue 10, recorded, not asserted: ``pytorch-gan-dcgan`` ganzoo ≥ 1.0× the script at fp32 and ≥ 1.5× the
fp32 script with --amp.

``test_data_path`` draws batches alone (the harness's index batches vs the PyTorch-GAN script's ``DataLoader``, both
1×32×32); ``test_peak_rss`` runs ``ganzoo train`` in a child process and records its peak resident memory. With
``--benchmark-disable`` every loop runs 2 steps at batch 8 once (a smoke run; tests/test_benchmarks_smoke.py does
that). Figures depend on the CPU threads (``OMP_NUM_THREADS``), recorded in ``extra_info``.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import torch

import designs
import ganzoo
from ganzoo.data import embedded_mnist
from ganzoo.registry import host

#: For ``test_peak_rss``: DCGAN when its plugin is installed, else the MLP GAN.
MODEL = "dcgan" if "dcgan" in ganzoo.list_models() else "gan"
BATCH = 64
#: The data set each design's ganzoo model trains on (the script loads its own).
DATASETS = {"tf-dcgan": "mnist-embedded", "pytorch-gan-dcgan": "mnist-embedded-32"}
PRECISIONS = ("fp32", "amp")
#: Issue 10's targets: ganzoo / script at fp32, and ganzoo --amp / script fp32.
TARGETS = {"pytorch-gan-dcgan": {"fp32": 1.0, "amp_vs_script_fp32": 1.5}}

Loop = tuple[str, str, str]  # (design, side, precision)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
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


@pytest.fixture(scope="module")
def designs_plugin(cache: Path) -> Iterator[None]:
    """``benchmarks/designs.py`` registered as a plugin for the module: its two models and ``mnist-embedded-32``."""
    host().register_plugin(designs, name="bench-designs")
    try:
        yield
    finally:
        host().unregister_plugin("bench-designs")


def _write_idx(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _steps(benchmark: Any) -> int:
    return 2 if benchmark.disabled else int(os.environ.get("GANZOO_BENCH_STEPS", "100"))


def _rotated(items: list[Any], i: int) -> list[Any]:
    """``items`` starting at place ``i`` (modulo its length): over rounds, each item takes each place in turn."""
    k = i % len(items)
    return items[k:] + items[:k]


# -- the two sides --------------------------------------------------------------------------------------------
def run_ganzoo(design: str, amp: bool, out: Path, steps: int, batch: int) -> designs.LoopResult:
    """``ganzoo.harness.train`` as ``ganzoo train DESIGN [--amp]`` runs it; its summary's images/s and losses."""
    from ganzoo.harness import TrainOptions, train

    summary = train(TrainOptions(model=design, dataset=DATASETS[design], steps=steps, batch_size=batch, seed=0,
                                 out=str(out), device="cpu", amp=amp), quiet=True)
    return designs.LoopResult(summary.images_per_second, dict(summary.losses))


def run_script(design: str, amp: bool, mnist_root: Path, steps: int, batch: int) -> designs.LoopResult:
    """The design's own script loop (``designs.tf_dcgan_script`` or ``designs.pytorch_gan_dcgan_script``)."""
    if design == "tf-dcgan":
        return designs.tf_dcgan_script(steps, batch, amp=amp)
    return designs.pytorch_gan_dcgan_script(mnist_root, steps, batch, amp=amp)


@pytest.mark.benchmark(group="train-loop")
def test_side_by_side(benchmark: Any, designs_plugin: None, mnist_root: Path, tmp_path: Path) -> None:
    """Per design: the script's loop and ganzoo's harness at fp32 and --amp, interleaved over rounds."""
    steps, batch = _steps(benchmark), 8 if benchmark.disabled else BATCH
    loops: dict[Loop, Callable[[int], designs.LoopResult]] = {}
    for design in DATASETS:
        for precision in PRECISIONS:
            amp = precision == "amp"
            loops[design, "script", precision] = \
                lambda i, d=design, a=amp: run_script(d, a, mnist_root, steps, batch)
            loops[design, "ganzoo", precision] = \
                lambda i, d=design, a=amp, p=precision: run_ganzoo(d, a, tmp_path / f"{d}-{p}-{i}", steps, batch)
    rates: dict[Loop, list[float]] = {key: [] for key in loops}
    losses: dict[Loop, dict[str, float]] = {}
    rounds = iter(range(1000))

    def one_round() -> None:
        i = next(rounds)
        for design in _rotated(list(DATASETS), i):
            for key in _rotated([key for key in loops if key[0] == design], i):
                result = loops[key](i)
                rates[key].append(result.images_per_second)
                losses[key] = result.losses

    n_rounds = 1 if benchmark.disabled else int(os.environ.get("GANZOO_BENCH_ROUNDS", "3"))
    benchmark.pedantic(one_round, rounds=n_rounds, iterations=1)
    benchmark.extra_info.update(batch=batch, steps=steps, rounds_run=n_rounds, threads=torch.get_num_threads())
    print(f"\nbatch {batch}, {steps} steps, {torch.get_num_threads()} threads, best of {n_rounds} round(s) — images/s")
    for design in DATASETS:
        mine = [key for key in loops if key[0] == design]
        best = {(side, p): max(rates[d, side, p]) for d, side, p in mine}
        ratios = {"fp32": best["ganzoo", "fp32"] / best["script", "fp32"],
                  "amp": best["ganzoo", "amp"] / best["script", "amp"],
                  "amp_vs_script_fp32": best["ganzoo", "amp"] / best["script", "fp32"]}
        targets = TARGETS.get(design, {})
        benchmark.extra_info[design] = {
            "dataset": DATASETS[design],
            "images_per_second": {f"{side} {p}": round(v, 1) for (side, p), v in best.items()},
            "rounds": {f"{side} {p}": [round(x, 1) for x in rates[d, side, p]] for d, side, p in mine},
            "ganzoo_vs_script": {k: round(v, 3) for k, v in ratios.items()},
            "targets": targets,
            "last_losses": {f"{side} {p}": {k: round(v, 4) for k, v in losses[d, side, p].items()}
                            for d, side, p in mine},
        }
        _print_design(design, best, ratios, targets, losses)


def _print_design(design: str, best: dict[tuple[str, str], float], ratios: dict[str, float],
                  targets: dict[str, float], losses: dict[Loop, dict[str, float]]) -> None:
    """One design's table: images/s of script and ganzoo per precision, the ratios and the last losses."""
    def target(key: str) -> str:
        return f"  (target ≥ {targets[key]:g})" if key in targets else ""

    print(f"{design} ({DATASETS[design]})      script     ganzoo   ganzoo/script")
    for p in PRECISIONS:
        print(f"  {p:<6} {best['script', p]:>24,.0f} {best['ganzoo', p]:>10,.0f} {ratios[p]:>10.2f}{target(p)}")
    print(f"  ganzoo --amp / script fp32: {ratios['amp_vs_script_fp32']:.2f}{target('amp_vs_script_fp32')}")
    for (d, side, p), values in losses.items():
        if d == design:
            shown = ", ".join(f"{k} {v:.3f}" for k, v in sorted(values.items()) if k in ("d_loss", "g_loss"))
            print(f"  last losses, {side} {p}: {shown}")


@pytest.mark.parametrize("loader", ["harness", "reference"])
@pytest.mark.benchmark(group="data-path")
def test_data_path(benchmark: Any, loader: str, mnist_root: Path) -> None:
    """Batches alone, no model, one epoch of 1×32×32 digits: the harness's index batches vs the PyTorch-GAN
    script's DataLoader (per-sample Resize(32), ToTensor, Normalize)."""
    from ganzoo.batches import BatchStream

    data = designs.load_mnist_embedded_32()
    batches = 3 if benchmark.disabled else len(data) // BATCH  # one epoch
    if loader == "harness":
        stream = BatchStream(data, BATCH, torch.device("cpu"), seed=0)

        def draw() -> None:
            for _ in range(batches):
                next(stream)
    else:
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms

        transform = transforms.Compose([transforms.Resize(32), transforms.ToTensor(),
                                        transforms.Normalize([0.5], [0.5])])
        dataset = datasets.MNIST(str(mnist_root), train=True, transform=transform)

        def draw() -> None:
            it = iter(DataLoader(dataset, batch_size=BATCH, shuffle=True))
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
