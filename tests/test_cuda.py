"""On a CUDA GPU: fp16 with GradScaler, bf16, the data placed on the device, exact resume, NCCL DDP with one process,
and ``ganzoo bench``. Marked ``cuda`` and skipped without a GPU; run them with ``pytest -m cuda``."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from ganzoo.batches import BatchStream
from ganzoo.checkpoint import list_checkpoints, read_checkpoint
from ganzoo.cli import main
from ganzoo.data import load_dataset
from ganzoo.harness import TrainOptions, train
from ganzoo.testing import assert_same_state

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (pytest -m cuda on one)")]

TINY = ["dcgan.g_channels=16", "dcgan.d_channels=16", "train.log_every=1", "train.sample_every=0",
        "train.checkpoint_every=3", "train.sample_grid=4"]


def run(out: Path, steps: int = 6, **kw: Any) -> Any:
    opts = {"model": "dcgan", "steps": steps, "batch_size": 16, "seed": 0, "out": str(out), "device": "cuda",
            "overrides": list(TINY)}
    opts.update(kw)
    return train(TrainOptions(**opts), quiet=True)


def final_state(run_dir: Path) -> dict[str, Any]:
    blob = read_checkpoint(list_checkpoints(run_dir)[-1])
    return {"step": blob["step"], "state": blob["state"], "rng": blob["rng"], "data": blob["data"]}


def test_fp16_trains_with_grad_scalers_saved_in_the_checkpoint(tmp_path: Path) -> None:
    summary = run(tmp_path / "fp16", amp="fp16")
    assert summary.amp == "float16" and summary.device.startswith("cuda")
    assert all(math.isfinite(v) for v in summary.losses.values())
    scalers = read_checkpoint(summary.checkpoint)["state"]["scalers"]
    assert set(scalers) >= {"G", "D"} or len(scalers) >= 2
    assert all(s["scale"] > 0 for s in scalers.values())


def test_bf16_autocast_on_cuda(tmp_path: Path) -> None:
    summary = run(tmp_path / "bf16", amp="bf16")
    assert summary.amp == "bfloat16"
    assert all(math.isfinite(v) for v in summary.losses.values())
    assert read_checkpoint(summary.checkpoint)["state"]["scalers"] == {}  # bf16 needs no scaler


def test_the_data_set_is_placed_on_the_gpu() -> None:
    data = load_dataset("mnist-embedded")
    stream = BatchStream(data, 64, torch.device("cuda"), seed=0)
    batch = next(stream)
    assert stream.placement == "device" and stream.images.is_cuda
    assert batch.images.is_cuda and batch.images.dtype == torch.float32
    assert float(batch.images.min()) >= -1 and float(batch.images.max()) <= 1


def test_resume_on_cuda_is_exact(tmp_path: Path) -> None:
    run(tmp_path / "whole", steps=6)
    run(tmp_path / "split", steps=3)
    run(tmp_path / "split", steps=6, resume=True)
    assert_same_state(final_state(tmp_path / "whole"), final_state(tmp_path / "split"))


def test_nccl_ddp_with_one_process(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "ganzoo",
           "train", "dcgan", "--steps", "4", "--batch-size", "16", "--device", "cuda", "--quiet",
           "--out", str(tmp_path / "ddp"), *sum((["--set", t] for t in TINY), [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    blob = read_checkpoint(list_checkpoints(tmp_path / "ddp")[-1])
    assert blob["step"] == 4 and blob["config"]["world_size"] == 1


def test_bench_on_cuda(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", "cgan", "dcgan", "--steps", "20", "--n-eval", "200", "--eval-every", "0", "--device",
                 "cuda", "--out", str(tmp_path), "--quiet", "--json"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert [m["model"] for m in results["models"]] == ["cgan", "dcgan"]
    assert results["environment"]["device"].startswith("cuda")
    assert all(math.isfinite(m["fid"]) for m in results["models"])
