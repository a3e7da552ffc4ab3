"""The harness speed benchmark still runs: each of its loops once, a few steps, timing off (a smoke run)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "test_bench_harness.py"


def test_harness_benchmark_runs_once(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_CACHE": os.environ.get("GANZOO_CACHE", str(tmp_path))}
    proc = subprocess.run([sys.executable, "-m", "pytest", str(BENCH), "--benchmark-disable", "-q", "-p",
                           "no:cacheprovider", "--rootdir", str(BENCH.parent)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 passed" in proc.stdout
