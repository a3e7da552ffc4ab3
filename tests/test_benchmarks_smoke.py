"""The speed suites under benchmarks/ still run: every benchmark once, timing off (a smoke run, not a measurement)."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import ganzoo

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_every_benchmark_runs_once(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_CACHE": os.environ.get("GANZOO_CACHE", str(tmp_path))}
    proc = subprocess.run([sys.executable, "-m", "pytest", str(BENCHMARKS), "--benchmark-disable", "-q", "-p",
                           "no:cacheprovider", "--rootdir", str(BENCHMARKS)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # harness (side by side, two data paths, peak RSS), metrics (2 models, cache hit and miss), per model a
    # training step and sampling, and DiffAugment (3 shapes × 2 policies × ours, reference, and kornia if installed)
    augment = 3 * 2 * (3 if importlib.util.find_spec("kornia") else 2)
    expected = 4 + 4 + 2 * len(ganzoo.list_models()) + augment
    assert re.search(rf"\b{expected} passed\b", proc.stdout), proc.stdout[-2000:]
