"""Per-op CPU profile of one ganzoo training step of the PyTorch-GAN collection's DCGAN (batch 64, 1×32×32).

    python benchmarks/profile_step.py [--amp] [--steps 20]

Prints torch.profiler's table of the operators that take the most self CPU time over ``--steps`` steps (after 3
warm-up steps), the numbers the closing note of issue 10 quotes for "what limits it".
"""
from __future__ import annotations

import argparse
import contextlib

import torch
from torch.profiler import ProfilerActivity, profile

from designs import PytorchGanDcgan  # noqa: E402  (run from benchmarks/ or with it on sys.path)
from ganzoo.model import Batch


def main() -> None:
    """Profile ``--steps`` steps and print the top operators by self CPU time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amp", action="store_true", help="bf16 autocast, as ganzoo train --amp on a CPU")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = PytorchGanDcgan(image_shape=(1, 32, 32))
    batch = Batch(torch.rand(64, 1, 32, 32) * 2 - 1, torch.zeros(64, dtype=torch.long))
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if args.amp else contextlib.nullcontext()
    for step in range(3):
        with amp:
            model.train_step(batch, step)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for step in range(args.steps):
            with amp:
                model.train_step(batch, step)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
