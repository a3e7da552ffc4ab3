"""The one way to train a model: ``train(TrainOptions(...))``. It drives only the model contract, so every registered
model trains the same way::

    ganzoo train dcgan --steps 2000                        # CPU, or CUDA when present
    ganzoo train cgan --dataset fashion-mnist --amp        # bf16 autocast on CPU, fp16 + GradScaler on CUDA
    ganzoo train dcgan --out runs/dcgan --resume           # continue from the newest checkpoint that loads
    torchrun --standalone --nproc_per_node=4 -m ganzoo train dcgan --dataset cifar10   # DDP

or from Python::

    from ganzoo.harness import TrainOptions, train
    summary = train(TrainOptions(model="dcgan", steps=500, out="runs/dcgan"))

It reads top to bottom: resolve the settings (``ganzoo.runconfig``) and build the loggers (``ganzoo.runlog``), lock
the run folder (``ganzoo.rundir``), build the model and the batches, hand them with the periodic events to the loop
(``ganzoo.trainer``), and report.
"""
from __future__ import annotations

import contextlib
import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ganzoo import distributed, pictures, rng
from ganzoo.batches import BatchStream
from ganzoo.config import Zoo, load_zoo
from ganzoo.environment import resolve_device
from ganzoo.errors import CheckpointError, TrainingError
from ganzoo.guard import check_batch_norm, origin
from ganzoo.interrupts import StopRequests, TrainingInterrupted
from ganzoo.model import GenerativeModel
from ganzoo.progress import RunBar
from ganzoo.registry import host
from ganzoo.runconfig import RunConfig, TrainOptions, check_options, resolve_run_dir
from ganzoo.rundir import PROGRESS_FILE, RunDir
from ganzoo.runlog import RunLog, logger_names
from ganzoo.runstart import fresh, resumed
from ganzoo.trainer import Event, Trainer

__all__ = ["RunSummary", "TrainOptions", "TrainingInterrupted", "resolve_run_dir", "train"]


@dataclass(frozen=True)
class RunSummary:
    """What a finished run reports: where it is, what it trained, how fast, its last losses and final checkpoint."""

    run_dir: Path
    model: str
    dataset: str
    steps: int
    batch_size: int
    seed: int
    images_per_second: float
    wall_seconds: float
    callback_seconds: float
    losses: dict[str, float]
    checkpoint: Path
    device: str
    world_size: int
    amp: str | None
    resumed_from: Path | None
    #: Seconds of the first step with ``compile`` (compilation, not counted in ``images_per_second``); else 0.
    compile_seconds: float = 0.0


def train(opts: TrainOptions, *, quiet: bool = False, progress: Any = None) -> RunSummary:
    """Train ``opts.model``; ``progress`` is a running ``rich.progress.Progress`` to add this run's bar to."""
    check_options(opts)
    with StopRequests() as stop:  # first, so that a Ctrl-C while loading is a request to stop, not a traceback
        ctx = distributed.setup(resolve_device(opts.device))
        try:
            zoo = load_zoo(opts.config).with_overrides(opts.overrides)
            name = host().get("models", opts.model).name
            # before the run folder is made: an unknown logger or one whose package is missing stops here
            runlog = RunLog(logger_names(zoo.section("train")["loggers"], opts.loggers), active=ctx.is_main)
            rundir = RunDir(resolve_run_dir(opts.out, opts.name, name), main=ctx.is_main, model=name)
            with rundir.lock(), RunBar.open(progress, name, quiet, ctx.is_main) as bar:
                runlog.warn = _warner(bar, runlog.warn)
                return _run(opts, zoo, ctx, rundir, stop, bar, runlog)
        finally:
            distributed.teardown(ctx)


def _warner(bar: RunBar, otherwise: Callable[[str], None]) -> Callable[[str], None]:
    """A warning line above the progress display when there is one (bench's too), else ``otherwise``."""
    if bar.progress is None:
        return otherwise
    from rich.markup import escape

    return lambda text: bar.progress.console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False,
                                                   soft_wrap=True)


def _run(opts: TrainOptions, zoo: Zoo, ctx: distributed.Context, rundir: RunDir, stop: StopRequests,
         bar: RunBar, runlog: RunLog) -> RunSummary:
    cfg, data, model, blob = resumed(opts, zoo, ctx, rundir, bar.say) if opts.resume else fresh(opts, zoo, ctx, rundir)
    cfg = dataclasses.replace(cfg, train={**cfg.train, "loggers": runlog.names})  # config.yaml: what this run used
    given = f"{cfg.model}.batch_size" if opts.batch_size is None and blob is None and "batch_size" in cfg.hparams \
        else "--batch-size"
    check_batch_norm(model, cfg.batch_size, ctx.world_size, given)  # before the run folder is written to
    device = ctx.device
    model.to(device)
    if cfg.amp == "float16":
        model.scalers = {k: torch.amp.GradScaler("cuda") for k in model.optimizers}
    stream = BatchStream(data, cfg.batch_size, device, cfg.seed, rank=ctx.rank, world_size=ctx.world_size,
                         placement=cfg.train.get("data_placement", "auto"))
    if blob is not None:
        stream.load_state_dict(blob["data"])
        rng.set_state(rng.rank_state(blob, ctx.rank, ctx.world_size, ctx.enabled), device)
        rundir.continue_at(cfg.start_step, cfg.record())
        bar.say(f"resuming {rundir.path} at step {cfg.start_step} from {cfg.resumed_from}")
    else:
        torch.manual_seed(rng.train_seed(cfg.seed, ctx.rank))
        rundir.start_fresh(cfg.record())
    if ctx.enabled:
        model.wrap_networks(distributed.wrap_ddp(ctx))
    try:
        return _loop(opts, cfg, ctx, rundir, stop, bar, model, stream, runlog, data)
    finally:
        distributed.unwrap(model)


def _scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """A metrics record as the loggers' tags: ``losses: {g_loss: …}`` becomes ``losses/g_loss``; the step goes apart."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            out.update({f"{key}/{k}": v for k, v in value.items()})
        elif key != "step":
            out[key] = value
    return out


def _loop(opts: TrainOptions, cfg: RunConfig, ctx: distributed.Context, rundir: RunDir, stop: StopRequests,
          bar: RunBar, model: GenerativeModel, stream: BatchStream, runlog: RunLog, data: Any) -> RunSummary:
    tcfg, device = cfg.train, ctx.device
    newest, newest_step = cfg.resumed_from, cfg.start_step if cfg.resumed_from else -1  # the newest checkpoint
    losses: dict[str, float] = {}

    def log(step: int) -> None:
        if not trainer.watch.sums:  # no step since the last line (a stop before the first step)
            return
        record = trainer.metrics(step, cfg.batch_size, stream.epoch)
        losses.update(record["losses"])
        runlog.scalars(step, _scalars(record))
        bar.show(record["losses"], record["images_per_second"])

    def checkpoint(step: int) -> None:
        nonlocal newest, newest_step
        if step == newest_step:
            return
        state = rng.get_state(device)
        everyone = distributed.gather_objects(ctx, state)
        error, path = None, None
        if ctx.is_main:
            payload = {"step": step, "config": cfg.record(), "state": model.training_state(), "rng": state,
                       "rank_rng": everyone if ctx.enabled else None, "data": stream.state_dict(),
                       "wall_seconds": trainer.wall_seconds()}
            try:
                path = rundir.write_checkpoint(payload, step, int(tcfg["keep_checkpoints"]))
            except CheckpointError as exc:
                error = exc
        (failed,) = distributed.any_flag(ctx, error is not None)
        if error is not None:
            raise error
        if failed:
            raise TrainingError("rank 0 could not write a checkpoint; see its error")
        newest, newest_step = path or rundir.path, step

    def sample(step: int) -> None:
        if ctx.is_main:
            # torchvision and PIL: only when a grid is due
            from torchvision.utils import make_grid

            from ganzoo.data import to_uint8
            from ganzoo.sampling import grid_images, write_png

            with distributed.unwrapped(model) as net:
                images, _, nrow = grid_images(net, n=int(tcfg["sample_grid"]), seed=cfg.seed, data=data)
            rundir.write_samples(step, lambda p: write_png(images, p, nrow))
            grid = make_grid(to_uint8(images), nrow=nrow, padding=2)  # the PNG's pixels: (3, H, W) uint8
            runlog.images(step, "samples", grid.permute(1, 2, 0).contiguous().numpy())

    def callback(step: int) -> None:
        if not ctx.is_main:
            return
        py, npy = random.getstate(), np.random.get_state()
        devices = [device.index or 0] if device.type == "cuda" else []
        with trainer.clock.paused(), torch.random.fork_rng(devices=devices), distributed.unwrapped(model) as net:
            try:
                values = opts.callback(step, net)
            finally:
                random.setstate(py)
                np.random.set_state(npy)
                net.train()
            if isinstance(values, Mapping) and values:
                runlog.scalars(step, values)

    def fail(bad: tuple[int, str, float]) -> None:
        step, name, value = bad
        where = f"the last good checkpoint is {newest} (step {newest_step})" if newest else "no checkpoint was written"
        rates = [k for k, v in cfg.hparams.items() if k.startswith("lr") and isinstance(v, (int, float)) and v > 0]
        fix = f"--set {cfg.model}.{rates[0]}={cfg.hparams[rates[0]] / 2:g}" if rates else "a lower learning rate"
        raise TrainingError(f"step {step}: loss {name!r} of {origin(model)} is {value} — training stopped; {where}. "
                            f"Train again with {fix}{' or without --amp' if cfg.amp else ''} (--overwrite)")

    events = [Event(int(tcfg["log_every"]), log, at_end=True, on_stop=True),
              Event(int(tcfg["checkpoint_every"]), checkpoint, at_end=True, on_stop=True),
              Event(int(tcfg["sample_every"]), sample, at_end=True),
              Event(opts.callback_every if opts.callback else 0, callback, at_end=opts.callback is not None)]
    autocast = torch.autocast(device.type, dtype=getattr(torch, cfg.amp)) if cfg.amp else contextlib.nullcontext()
    if opts.compile:
        for net in model.networks().values():
            net.compile()
    trainer = Trainer(model, stream, events=events, steps=cfg.steps, max_seconds=cfg.max_seconds,
                      start_step=cfg.start_step, wall_before=cfg.wall_before, autocast=autocast, stop=stop, ctx=ctx,
                      on_step=lambda step: bar.advance(), fail=fail, warmup_steps=1 if opts.compile else 0)
    bar.start(cfg.steps, cfg.start_step)
    try:
        runlog.start(rundir.path, cfg.record(), cfg.start_step)
        try:
            outcome = trainer.run()
        except KeyboardInterrupt:  # the third Ctrl-C: abort the step in flight (the newest checkpoint stays)
            raise TrainingInterrupted(trainer.step, newest, aborted=True) from None
        if ctx.is_main:  # once per run, not after every grid: rebuilding it each time grows with the run
            rundir.write_picture(PROGRESS_FILE, lambda p: pictures.progress_animation(rundir.path, p))
        if outcome.signum is not None:
            raise TrainingInterrupted(outcome.step, newest, outcome.signum)
        distributed.sync_buffers(ctx, model)
        if not distributed.same_on_all_ranks(ctx, model):
            raise TrainingError("the ranks ended with different weights; a network of the model is not wrapped by "
                                "wrap_networks (every trained network must be); please report it")
        timed = outcome.steps_trained - min(trainer.warmup_steps, outcome.steps_trained)  # compiling steps aside
        ips = timed * cfg.batch_size / outcome.wall_seconds if outcome.wall_seconds > 0 else 0.0
        runlog.hparams({**cfg.hparams, "model": cfg.model, "dataset": cfg.dataset, "batch_size": cfg.batch_size,
                        "seed": cfg.seed, "steps": cfg.steps, "max_seconds": cfg.max_seconds, "amp": cfg.amp or "off",
                        "world_size": ctx.world_size}, {"images_per_second": ips, **_scalars({"losses": losses})})
    finally:
        runlog.close()
    return RunSummary(run_dir=rundir.path, model=cfg.model, dataset=cfg.dataset, steps=outcome.step,
                      batch_size=cfg.batch_size, seed=cfg.seed, images_per_second=ips,
                      wall_seconds=outcome.wall_seconds,
                      callback_seconds=trainer.clock.excluded - trainer.warmup_seconds, losses=losses,
                      checkpoint=Path(newest), device=str(device), world_size=ctx.world_size, amp=cfg.amp,
                      resumed_from=cfg.resumed_from, compile_seconds=trainer.warmup_seconds)
