"""Run by tests/test_distributed.py under torchrun: train through the CLI on every rank, then save this rank's
final weights and the images it was given (``ddp_worker.py OUT [ganzoo train options...]``)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

import ganzoo
from ganzoo.cli import main
from ganzoo.data import ImageData
from ganzoo.loggers import Logger
from ganzoo.registry import host
from ganzoo_builtin.gan import GAN

#: 32 images, each filled with its own index (so a batch tells which images it holds).
DATA = ImageData("ids", torch.arange(32, dtype=torch.uint8).view(32, 1, 1, 1).expand(32, 1, 8, 8).contiguous(),
                 torch.arange(32) % 4, 4)
MODELS: list[GAN] = []
SEEN: list[list[int]] = []


class Probe(GAN):
    """The MLP GAN, recording its instances and the image ids of every batch it trains on."""

    name = "probe"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        MODELS.append(self)

    def train_step(self, batch, step):
        SEEN.append(((batch.images[:, 0, 0, 0] + 1) * 127.5).round().long().tolist())
        return super().train_step(batch, step)


class Ranks(Logger):
    """A logger that writes down, per rank, the steps it was handed (only rank 0's file may appear)."""

    name = "ranks"

    def start(self, run_dir, config, step):
        self.path = run_dir.parent / f"logged-rank{os.environ.get('RANK', '0')}.txt"

    def log_scalars(self, step, values):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{step}\n")


class Plugin:
    @ganzoo.hookimpl
    def register_models(self, register) -> None:
        register(Probe)

    @ganzoo.hookimpl
    def register_loggers(self, register) -> None:
        register(Ranks)

    @ganzoo.hookimpl
    def register_datasets(self, register) -> None:
        register("ids", lambda root, download=False: DATA)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    host().register_plugin(Plugin(), name="ddp-worker")
    code = main(["train", "probe", "--dataset", "ids", "--out", str(out / "run"), *sys.argv[2:]])
    rank = os.environ.get("RANK", "0")
    torch.save({"state": MODELS[-1].unwrapped_state_dict(), "seen": SEEN, "world": os.environ.get("WORLD_SIZE")},
               out / f"rank{rank}.pt")
    sys.exit(code)
