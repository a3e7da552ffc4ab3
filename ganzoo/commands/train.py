"""``ganzoo train NAME``: train one model with the harness (also under ``torchrun`` for DDP)."""
from __future__ import annotations

import argparse

from ganzoo.commands.dataflags import add_data_flags, data_options

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the train sub-command."""
    p = sub.add_parser(
        "train", help="train one model (CPU, CUDA, --amp, --resume; torchrun for several GPUs)",
        description="Train a registered model on a data set. The run folder gets config.yaml, checkpoints/, "
                    "metrics.jsonl and samples/. Ctrl-C writes a checkpoint; --resume continues from the newest "
                    "good one. Several GPUs or nodes: torchrun --nproc_per_node=N -m ganzoo train NAME ...")
    p.add_argument("model", metavar="NAME", help="a registered model ('ganzoo list')")
    add_data_flags(p, "data set ('ganzoo datasets'; default: zoo.yaml train.dataset)")
    p.add_argument("--steps", type=int, help="training steps (default: zoo.yaml train.steps)")
    p.add_argument("--batch-size", type=int, help="global batch size (default: the model's batch_size)")
    p.add_argument("--seed", type=int, help="random seed (default: zoo.yaml train.seed)")
    p.add_argument("--out", help="run folder (default: runs/NAME); with --name the folder that holds the run")
    p.add_argument("--name", help="run name: the run folder is OUT/NAME (must stay inside OUT)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest good checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start afresh in a folder that already holds a run")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--amp", action="store_true", default=None,
                   help="mixed precision: bf16 autocast on CPU, fp16 + GradScaler on CUDA (with --resume: the run's "
                        "own setting unless given)")
    p.add_argument("--amp-dtype", choices=("bf16", "fp16"),
                   help="mixed precision of this type (implies --amp; bf16 needs no scaler)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the networks (the first step compiles: its time is reported apart)")
    p.add_argument("--download", action="store_true", help="download the data set if it is missing")
    p.add_argument("--minutes", type=float, help="stop after this much training time (over resumes too)")
    p.add_argument("--config", help="zoo file (default: the zoo's zoo.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set dcgan.lr_g=1e-4 or --set train.sample_every=100")
    p.add_argument("--logger", dest="loggers", action="append", default=[], metavar="NAME",
                   help="also log to this registered logger, e.g. tensorboard (repeatable; on top of zoo.yaml "
                        "train.loggers, default [jsonl])")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no messages (scripts)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and print where the run went; after Ctrl-C (exit 130) or SIGTERM (exit 143) one line says how to go on."""
    from ganzoo.console import console, err_console
    from ganzoo.harness import TrainingInterrupted, TrainOptions, train
    from ganzoo.interrupts import exit_code

    opts = TrainOptions(model=args.model, dataset=args.dataset, steps=args.steps, batch_size=args.batch_size,
                        seed=args.seed, out=args.out, name=args.name, resume=args.resume, device=args.device,
                        amp=args.amp_dtype or args.amp, overrides=args.overrides, config=args.config,
                        data_root=args.data_root, download=args.download,
                        dataset_options=data_options(args.data_option),
                        max_seconds=args.minutes * 60 if args.minutes is not None else None,
                        overwrite=args.overwrite, compile=args.compile, loggers=args.loggers)
    try:
        summary = train(opts, quiet=args.quiet)
    except TrainingInterrupted as exc:
        if _rank0():
            what = ("aborted in the middle of step " if exc.aborted else "stopped at step ") + str(exc.step)
            saved = f"the newest checkpoint is {exc.checkpoint}" if exc.checkpoint else "nothing was trained yet"
            err_console.print(f"{what}; {saved}. Continue with the same command and --resume", highlight=False,
                              soft_wrap=True)
        return exit_code(exc.signum)
    if not args.quiet and _rank0():
        losses = ", ".join(f"{k} {v:.4g}" for k, v in summary.losses.items())
        compiled = f", compiling {summary.compile_seconds:.1f} s apart" if args.compile else ""
        console.print(f"trained {summary.model} for {summary.steps} steps on {summary.dataset} "
                      f"({summary.images_per_second:,.0f} img/s on {summary.device}{compiled}); {losses}\n"
                      f"run folder: {summary.run_dir}  checkpoint: {summary.checkpoint}",
                      highlight=False, soft_wrap=True)
    return 0


def _rank0() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"

