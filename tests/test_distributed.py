"""DDP: two processes under torchrun with gloo on the CPU end with identical weights, each trains on its own half of
every batch, and only rank 0 writes the run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganzoo import distributed
from ganzoo.batches import BatchStream
from ganzoo.checkpoint import list_checkpoints, newest_checkpoint

WORKER = Path(__file__).with_name("ddp_worker.py")
STEPS = 4


def torchrun(out: Path, steps: int, *extra: str) -> None:
    """``torchrun --nproc_per_node=2 ddp_worker.py OUT ...``: the tiny probe GAN through ``ganzoo train``."""
    # the tree under test first (a PYTHONPATH checkout), then the installed ganzoo
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(WORKER.parent), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
           str(out), "--steps", str(steps), "--batch-size", "8", "--seed", "3", "--device", "cpu", "--quiet",
           "--set", "probe.g_widths=[16]", "--set", "probe.d_widths=[16]", "--set", "probe.latent_dim=8",
           "--set", "train.log_every=1", "--set", "train.checkpoint_every=2", "--set", "train.sample_every=2",
           "--set", "train.sample_grid=4", "--logger", "ranks", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    torchrun(out, STEPS)
    return out


def test_both_ranks_end_with_identical_weights(ddp_run: Path) -> None:
    r0 = torch.load(ddp_run / "rank0.pt", weights_only=True)
    r1 = torch.load(ddp_run / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == "2"
    assert r0["state"].keys() == r1["state"].keys()
    for k, v in r0["state"].items():
        assert torch.equal(v, r1["state"][k]), k
    path, blob = newest_checkpoint(ddp_run / "run")  # rank 0's checkpoint holds those weights
    assert blob["step"] == STEPS and len(blob["rank_rng"]) == 2
    for k, v in blob["state"]["networks"].items():
        assert torch.equal(v, r0["state"][k]), k


def test_each_rank_trains_on_its_own_half_of_every_batch(ddp_run: Path) -> None:
    from ddp_worker import DATA

    seen = [torch.load(ddp_run / f"rank{r}.pt", weights_only=True)["seen"] for r in (0, 1)]
    whole = BatchStream(DATA, 8, torch.device("cpu"), seed=3)  # the global batches of a one-process run
    for step in range(STEPS):
        a, b = seen[0][step], seen[1][step]
        expected = ((next(whole).images[:, 0, 0, 0] + 1) * 127.5).round().long().tolist()
        assert len(a) == len(b) == 4 and a + b == expected


def test_only_rank_zero_writes_one_run(ddp_run: Path) -> None:
    run = ddp_run / "run"
    assert [p.name for p in list_checkpoints(run)] == ["step-00000002.pt", "step-00000004.pt"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["progress.gif", "step-00000002.png",
                                                                    "step-00000004.png"]
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == list(range(1, STEPS + 1))  # logged once, not once per rank
    assert "world_size: 2" in (run / "config.yaml").read_text()
    assert sorted(p.name for p in ddp_run.iterdir()) == ["logged-rank0.txt", "rank0.pt", "rank1.pt", "run"]
    assert (ddp_run / "logged-rank0.txt").read_text().split() == [str(s) for s in range(1, STEPS + 1)]
    assert sorted(p.name for p in run.iterdir()) == [".lock", "checkpoints", "config.yaml", "metrics.jsonl", "samples"]


def test_resumed_ddp_run_reaches_the_same_weights(ddp_run: Path, tmp_path: Path) -> None:
    torchrun(tmp_path, STEPS - 1)
    torchrun(tmp_path, STEPS, "--resume")  # each rank restores its own random state from rank 0's checkpoint
    for r in (0, 1):
        whole = torch.load(ddp_run / f"rank{r}.pt", weights_only=True)["state"]
        resumed = torch.load(tmp_path / f"rank{r}.pt", weights_only=True)["state"]
        for k, v in whole.items():
            assert torch.equal(v, resumed[k]), (r, k)


def test_one_process_needs_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.setup(torch.device("cpu"))
    assert not ctx.enabled and ctx.is_main and ctx.backend is None
    assert distributed.any_flag(ctx, True, False) == [True, False]
    assert distributed.gather_objects(ctx, {"a": 1}) == [{"a": 1}]
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(Exception, match="torchrun"):
        distributed.setup(torch.device("cpu"))
