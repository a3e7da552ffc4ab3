"""The one training loop. It drives only the model contract (``train_step``, ``sample``, ``optimizers``,
``scalers``, ``wrap_networks``, ``training_state``), so every registered model trains the same way::

    ganzoo train dcgan --steps 2000                        # CPU, or CUDA when present
    ganzoo train cgan --dataset fashion-mnist --amp        # bf16 autocast on CPU, fp16 + GradScaler on CUDA
    ganzoo train dcgan --out runs/dcgan --resume           # continue from the newest good checkpoint
    torchrun --standalone --nproc_per_node=4 -m ganzoo train dcgan --dataset cifar10   # DDP

or from Python::

    from ganzoo.harness import TrainOptions, train
    summary = train(TrainOptions(model="dcgan", steps=500, out="runs/dcgan"))

A run folder holds ``config.yaml`` (the resolved settings), ``checkpoints/step-*.pt`` (the last K, written
atomically), ``metrics.jsonl`` (step, losses, images/s, wall time) and ``samples/step-*.png`` (fixed noise; one row
per class with the same noise in each column for conditional models).
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from ganzoo import distributed
from ganzoo.batches import BatchStream
from ganzoo.checkpoint import (build_model, checkpoint_path, list_checkpoints, newest_checkpoint,
                               prune_checkpoints, save_checkpoint)
from ganzoo.config import Zoo, load_zoo, parse_set
from ganzoo.data import ImageData, load_dataset
from ganzoo.environment import resolve_device
from ganzoo.errors import CheckpointError, ConfigError, DataError, TrainingError
from ganzoo.guard import checked_losses, origin, plugin_call
from ganzoo.model import GenerativeModel

#: Folder of the runs when neither ``out`` nor ``name`` says where (``runs/<model>``).
DEFAULT_RUNS = "runs"
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.yaml"
SAMPLES_DIR = "samples"


@dataclass
class TrainOptions:
    """What to train and how; ``None`` takes the value from zoo.yaml (``train.*`` and ``models.NAME.*``)."""

    model: str
    dataset: str | None = None
    steps: int | None = None
    batch_size: int | None = None
    seed: int | None = None
    #: The run folder; with ``name`` the folder that holds the run ``name`` (default ``runs``).
    out: str | os.PathLike | None = None
    resume: bool = False
    device: str = "auto"
    #: False, True (bf16 autocast on CPU, fp16 + GradScaler on CUDA), "bf16" or "fp16".
    amp: bool | str = False
    overrides: list[str] = field(default_factory=list)
    config: str | os.PathLike | None = None
    data_root: str | os.PathLike | None = None
    download: bool = False
    quiet: bool = False
    #: A running ``rich.progress.Progress`` to add this run's bar to (None: its own bar unless ``quiet``).
    progress: Any = None
    #: ``callback(step, model)`` on rank 0 every ``callback_every`` steps and at the end (RNG state preserved).
    callback: Callable[[int, GenerativeModel], None] | None = None
    callback_every: int = 0
    #: Stop after this many seconds of training in total (over resumes too); with ``steps`` None no step limit.
    max_seconds: float | None = None
    #: A run name: the run folder is ``out/name`` and must stay inside ``out``.
    name: str | None = None
    #: Options for the data set loader (see ``ganzoo datasets``), over zoo.yaml's ``train.dataset_options``.
    dataset_options: dict[str, Any] | None = None
    #: Train on this in-memory data set instead of loading ``dataset``.
    data: ImageData | None = None
    #: Start afresh in a folder that already holds a run (its checkpoints, samples and metrics are replaced).
    overwrite: bool = True


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C or SIGTERM after writing a checkpoint (``--resume`` continues it)."""

    def __init__(self, step: int, checkpoint: str | None, signum: int = signal.SIGINT) -> None:
        super().__init__(f"interrupted at step {step}")
        self.step, self.checkpoint, self.signum = step, checkpoint, signum


def train(opts: TrainOptions) -> dict[str, Any]:
    """Train ``opts.model`` and return a summary: run_dir, model, dataset, steps, batch_size, seed,
    images_per_second, wall_seconds, losses (the last logged), checkpoint (the final one) and device."""
    _check_options(opts)
    ctx = distributed.setup(resolve_device(opts.device))
    run = _Run(opts, ctx)
    try:
        return run.execute()
    finally:
        if getattr(run, "model", None) is not None:
            distributed.unwrap(run.model)
        del run
        distributed.teardown(ctx)


def resolve_run_dir(out: str | os.PathLike | None, name: str | None, model: str) -> Path:
    """The run folder: ``out``, or ``out/name`` (never outside ``out``: a traversing name is an error)."""
    if name is None:
        return Path(out) if out is not None else Path(DEFAULT_RUNS) / model
    base = Path(out) if out is not None else Path(DEFAULT_RUNS)
    candidate = (base / name).resolve()
    root = base.resolve()
    if not name.strip() or Path(name).is_absolute() or candidate == root or root not in candidate.parents:
        raise ConfigError(f"run name {name!r} leaves the output folder {base}; use a plain name such as "
                          "'dcgan-lr1e-4' (sub-folders are fine, '..' and absolute paths are not)")
    return base / name


# -- the run ------------------------------------------------------------------------------------------------------
class _Run:
    def __init__(self, opts: TrainOptions, ctx: distributed.Context) -> None:
        self.opts, self.ctx = opts, ctx
        self.main = ctx.is_main
        self.stop_signal: int | None = None
        self.last_checkpoint: Path | None = None
        self.last_checkpoint_step = -1
        self.bar: _Bar | None = None

    # -- set-up -----------------------------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        opts, ctx = self.opts, self.ctx
        zoo = load_zoo(opts.config).with_overrides(opts.overrides)
        self.tcfg = zoo.section("train")
        if not isinstance(self.tcfg.get("dataset_options"), dict):
            self.tcfg["dataset_options"] = {}
        from ganzoo.registry import host

        self.model_name = host().get("models", opts.model).name
        self.run_dir = resolve_run_dir(opts.out, opts.name, self.model_name)
        blob = self._resume_blob()
        self.config, self.data = self._settings(zoo, blob)
        self.device = ctx.device
        self.amp_dtype, use_scaler = _amp(opts.amp, self.device)
        self.config["amp"] = str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else False
        seed = self.config["seed"]
        _seed_everything(seed)
        model = build_model(self.config) if blob is not None else self._create_model(zoo)
        self.config["hparams"] = _plain(vars(model.hp))
        model.to(self.device)
        if use_scaler:
            model.scalers = {k: torch.amp.GradScaler("cuda") for k in model.optimizers}
        self.stream = BatchStream(self.data, self.config["batch_size"], self.device, seed, rank=ctx.rank,
                                  world_size=ctx.world_size, placement=self.tcfg.get("data_placement", "auto"))
        self.step, self.wall_before = 0, 0.0
        if blob is not None:
            model.load_training_state(blob["state"])
            self.stream.load_state_dict(blob["data"])
            _set_rng_state(_rank_rng(blob, ctx), self.device)
            self.step, self.wall_before = int(blob["step"]), float(blob.get("wall_seconds", 0.0))
            self.last_checkpoint_step = self.step
            self.last_checkpoint = self.resumed_from
        else:
            torch.manual_seed(_train_seed(seed, ctx.rank))
        if ctx.enabled:
            model.wrap_networks(distributed.wrap_ddp(ctx))
        self.model = model
        self._prepare_run_dir(fresh=blob is None)
        with _signals(self), self._progress() as bar:
            self.bar = bar
            if blob is not None:
                self._say(f"resuming {self.run_dir} at step {self.step} from {self.resumed_from}")
            return self._loop()

    def _resume_blob(self) -> dict[str, Any] | None:
        opts = self.opts
        self.resumed_from: Path | None = None
        if opts.resume:
            try:
                path, blob = newest_checkpoint(self.run_dir, warn=False)
            except CheckpointError as exc:
                raise CheckpointError(f"--resume: {exc}") from None
            skipped = [p for p in list_checkpoints(self.run_dir) if p.name > path.name]
            for p in skipped:
                self._say(f"[yellow]warning:[/] skipped the damaged checkpoint {p}")
            if blob["config"].get("model") != self.model_name:
                raise ConfigError(f"--resume: {self.run_dir} holds a {blob['config'].get('model')!r} run, not "
                                  f"{self.model_name!r}; name the same model or choose another --out")
            self.resumed_from = path
            return blob
        if list_checkpoints(self.run_dir) and not opts.overwrite:
            raise ConfigError(f"{self.run_dir} already holds a run; pass --resume to continue it, --overwrite to "
                              "start it afresh, or choose another --out")
        return None

    def _settings(self, zoo: Zoo, blob: dict[str, Any] | None) -> tuple[dict[str, Any], ImageData]:
        """The resolved configuration (stored in config.yaml and every checkpoint) and the data set."""
        opts, tcfg = self.opts, self.tcfg
        if blob is not None:
            cfg = dict(blob["config"])
            self._check_resume_consistency(cfg)
            if opts.steps is not None:
                cfg["steps"] = opts.steps
            if opts.max_seconds is not None:
                cfg["max_seconds"] = opts.max_seconds
            if cfg.get("steps") is None and cfg.get("max_seconds") is None:
                cfg["steps"] = tcfg["steps"]
            cfg["train"] = _plain(tcfg)
            cfg["world_size"] = self.ctx.world_size
            data = self._load_data(cfg["dataset"], cfg.get("dataset_options") or {})
            if list(data.image_shape) != list(cfg["image_shape"]) or data.num_classes != cfg["num_classes"]:
                raise DataError(f"--resume: the data set now has images {data.image_shape} and {data.num_classes} "
                                f"classes; the run was trained on {tuple(cfg['image_shape'])} and "
                                f"{cfg['num_classes']}. Resume with the same data set")
            return cfg, data
        dataset = opts.data.name if opts.data is not None else (opts.dataset or tcfg["dataset"])
        options = {**tcfg["dataset_options"], **(opts.dataset_options or {})}
        data = self._load_data(dataset, options)
        hparams = zoo.model_hparams(self.model_name)
        batch = opts.batch_size or hparams.get("batch_size") or 64
        if opts.steps is not None:
            steps = opts.steps
        else:
            steps = None if opts.max_seconds else tcfg["steps"]
        cfg = {"model": self.model_name, "dataset": dataset, "dataset_options": _plain(options),
               "image_shape": list(data.image_shape), "num_classes": data.num_classes,
               "class_names": data.class_names, "seed": opts.seed if opts.seed is not None else tcfg["seed"],
               "batch_size": int(batch), "steps": steps, "max_seconds": opts.max_seconds,
               "world_size": self.ctx.world_size, "hparams": {}, "train": _plain(tcfg)}
        from ganzoo import __version__

        cfg["ganzoo_version"] = __version__
        return cfg, data

    def _check_resume_consistency(self, cfg: dict[str, Any]) -> None:
        opts = self.opts
        asked = {"--seed": (opts.seed, cfg.get("seed")), "--batch-size": (opts.batch_size, cfg.get("batch_size")),
                 "--dataset": (opts.dataset, cfg.get("dataset"))}
        for item in opts.overrides:
            path, value = parse_set(item)
            if path[0] == "models":
                path = path[1:]
            if len(path) == 2 and path[0] == self.model_name:
                asked[f"--set {item}"] = (value, (cfg.get("hparams") or {}).get(path[1], value))
        changed = [f"{flag} (the run has {had!r})" for flag, (new, had) in asked.items()
                   if new is not None and new != had]
        if changed:
            raise ConfigError(f"--resume continues {self.run_dir} exactly as it was started; these differ: "
                              f"{'; '.join(changed)}. Drop them, or start a new run in another --out")

    def _load_data(self, name: str, options: dict[str, Any]) -> ImageData:
        opts = self.opts
        if opts.data is not None:
            return opts.data
        # Rank 0 first: it may download or build the cache that the other ranks then read.
        if not self.main:
            distributed.barrier(self.ctx)
        try:
            data = load_dataset(name, root=opts.data_root, download=opts.download and self.main, **options)
        finally:
            if self.main:
                distributed.barrier(self.ctx)
        return data

    def _create_model(self, zoo: Zoo) -> GenerativeModel:
        from ganzoo import create_model, model_class

        extra = {"batch_size": self.config["batch_size"]} if "batch_size" in model_class(self.model_name).defaults \
            else {}
        return create_model(self.model_name, image_shape=tuple(self.data.image_shape),
                            num_classes=self.data.num_classes, zoo=zoo, **extra)

    def _prepare_run_dir(self, fresh: bool) -> None:
        if not self.main:
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if fresh:
                for p in list_checkpoints(self.run_dir):
                    p.unlink()
                for p in (self.run_dir / SAMPLES_DIR).glob("step-*.png"):
                    p.unlink()
                (self.run_dir / METRICS_FILE).unlink(missing_ok=True)
            else:  # drop metrics logged after the checkpoint we resume from: they will be logged again
                self._truncate_metrics(self.step)
            _atomic_text(self.run_dir / CONFIG_FILE, yaml.safe_dump(self.config, sort_keys=False))
        except OSError as exc:
            raise ConfigError(f"cannot write the run folder {self.run_dir}: {exc.strerror or exc}; pass a writable "
                              "--out") from None

    def _truncate_metrics(self, step: int) -> None:
        path = self.run_dir / METRICS_FILE
        if not path.is_file():
            return
        keep = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    keep.append(line)
            except (ValueError, KeyError, TypeError):
                continue
        _atomic_text(path, "".join(f"{line}\n" for line in keep))

    # -- the loop ---------------------------------------------------------------------------------------------
    def _loop(self) -> dict[str, Any]:
        opts, ctx, tcfg, cfg = self.opts, self.ctx, self.tcfg, self.config
        model, stream = self.model, self.stream
        total = cfg["steps"]
        every = {"log": tcfg["log_every"], "sample": tcfg["sample_every"], "checkpoint": tcfg["checkpoint_every"],
                 "callback": opts.callback_every if opts.callback is not None else 0}
        images_per_step = cfg["batch_size"]
        eager_check = self.device.type != "cuda"  # on CUDA the check waits for log steps (no per-step sync)
        watch = _LossWatch()
        autocast = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype
                    else contextlib.nullcontext())
        start_step = self.step
        self.clock = clock = _Clock()
        t_log, step_log = 0.0, self.step
        limit = cfg.get("max_seconds")
        time_up = limit is not None and self.wall_before >= limit
        last_losses: dict[str, float] = {}
        last_callback = -1
        stop = False  # under DDP only the decision all ranks agreed on counts
        model.train()
        try:
            while (total is None or self.step < total) and not time_up and not stop:
                batch = next(stream)
                with autocast, plugin_call(model, "train_step"):
                    losses = model.train_step(batch, self.step)
                self.step += 1
                watch.add(self.step, checked_losses(model, losses, self.step))
                time_up = limit is not None and self.wall_before + clock.elapsed() >= limit
                if ctx.enabled:  # every rank takes the same decision, or the collectives would hang
                    stop, time_up, bad = distributed.any_flag(ctx, self.stop_signal is not None, time_up,
                                                              watch.bad_now())
                    if bad:
                        self._fail(watch)
                    if stop and self.stop_signal is None:
                        self.stop_signal = signal.SIGINT
                else:
                    if eager_check and watch.bad_now():
                        self._fail(watch)
                    stop = self.stop_signal is not None
                if self.bar is not None:
                    self.bar.advance()
                s = self.step
                final = (total is not None and s >= total) or stop or time_up
                if s % every["log"] == 0 or final:
                    if watch.first_bad() is not None:
                        self._fail(watch)
                    now = clock.elapsed()
                    ips = (s - step_log) * images_per_step / max(now - t_log, 1e-9)
                    last_losses = watch.means()
                    self._log({"step": s, "epoch": stream.epoch, "losses": last_losses,
                               "images_per_second": round(ips, 2),
                               "wall_seconds": round(self.wall_before + now, 3)})
                    if self.bar is not None:
                        self.bar.show(last_losses, ips)
                    t_log, step_log = now, s
                if stop:
                    break
                if every["checkpoint"] and s % every["checkpoint"] == 0 and not final:
                    self._checkpoint(watch)
                if every["sample"] and s % every["sample"] == 0 and not final:
                    self._sample()
                if every["callback"] and s % every["callback"] == 0:
                    self._callback(watch)
                    last_callback = s
                if not ctx.enabled:  # a signal during the writing above stops before the next step
                    stop = self.stop_signal is not None
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside the main thread: stop where we are
            if not ctx.enabled and self.step > self.last_checkpoint_step:
                self._checkpoint(watch, partial=True)
            raise TrainingInterrupted(self.step, str(self.last_checkpoint) if self.last_checkpoint else None) \
                from None
        wall = clock.elapsed()
        if self.step > self.last_checkpoint_step or self.last_checkpoint is None:
            self._checkpoint(watch)
        if stop and (total is None or self.step < total):
            raise TrainingInterrupted(self.step, str(self.last_checkpoint), self.stop_signal)
        self._sample()
        if opts.callback is not None and last_callback != self.step:
            self._callback(watch)
        distributed.sync_buffers(ctx, model)
        if not distributed.same_on_all_ranks(ctx, model):
            raise TrainingError("the ranks ended with different weights; a network of the model is not wrapped "
                                "by wrap_networks (every trained network must be); please report it")
        trained = self.step - start_step
        return {"run_dir": str(self.run_dir), "model": self.model_name, "dataset": cfg["dataset"],
                "steps": self.step, "batch_size": cfg["batch_size"], "seed": cfg["seed"],
                "images_per_second": trained * images_per_step / wall if trained and wall > 0 else 0.0,
                "wall_seconds": wall, "callback_seconds": clock.excluded, "losses": last_losses,
                "checkpoint": str(self.last_checkpoint), "device": str(self.device), "world_size": ctx.world_size,
                "amp": cfg["amp"]}

    # -- writing ----------------------------------------------------------------------------------------------
    def _fail(self, watch: "_LossWatch") -> None:
        bad = watch.first_bad()
        step, name, value = bad if bad is not None else (self.step, "?", float("nan"))
        where = (f"the last good checkpoint is {self.last_checkpoint} (step {self.last_checkpoint_step})"
                 if self.last_checkpoint is not None else "no checkpoint was written yet")
        hparams = self.config.get("hparams") or {}
        rates = [k for k, v in hparams.items() if k.startswith("lr") and isinstance(v, (int, float)) and v > 0]
        fix = (f"lower the learning rate (for example --set {self.model_name}.{rates[0]}={hparams[rates[0]] / 2:g})"
               if rates else "lower the learning rate")
        raise TrainingError(f"step {step}: loss {name!r} of {origin(self.model)} is {value} — training stopped; "
                            f"{where}. To go on, {fix}"
                            f"{' or drop --amp' if self.amp_dtype else ''} and train again (--overwrite, or --resume "
                            "from the last good checkpoint)")

    def _checkpoint(self, watch: "_LossWatch", partial: bool = False) -> None:
        if watch.first_bad() is not None:
            self._fail(watch)
        rng = _rng_state(self.device)
        everyone = distributed.gather_objects(self.ctx, rng)
        error: Exception | None = None
        path = checkpoint_path(self.run_dir, self.step)
        if self.main:
            payload = {"step": self.step, "config": self.config, "state": self.model.training_state(),
                       "rng": rng, "rank_rng": everyone if self.ctx.enabled else None,
                       "data": self.stream.state_dict(),
                       "wall_seconds": self.wall_before + self.clock.elapsed(),
                       "partial_step": partial, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            try:
                save_checkpoint(payload, path)
                prune_checkpoints(self.run_dir, int(self.tcfg["keep_checkpoints"]))
            except CheckpointError as exc:
                error = exc
        (failed,) = distributed.any_flag(self.ctx, error is not None)
        if error is not None:
            raise error
        if failed:
            raise TrainingError("rank 0 could not write a checkpoint; see its error")
        self.last_checkpoint, self.last_checkpoint_step = path, self.step

    def _sample(self) -> None:
        if not self.main:
            return
        from ganzoo.sampling import save_grid

        path = self.run_dir / SAMPLES_DIR / f"step-{self.step:08d}.png"
        try:
            with distributed.unwrapped(self.model) as model:
                save_grid(model, path, n=int(self.tcfg["sample_grid"]), seed=int(self.config["seed"]))
        except OSError as exc:
            raise TrainingError(f"cannot write the sample grid {path}: {exc.strerror or exc}; free disk space or "
                                "pass a writable --out") from None

    def _callback(self, watch: "_LossWatch") -> None:
        if watch.first_bad() is not None:
            self._fail(watch)
        if not self.main:
            return
        py, npy = random.getstate(), np.random.get_state()
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with self.clock.paused(), torch.random.fork_rng(devices=devices), \
                distributed.unwrapped(self.model) as model:
            try:
                self.opts.callback(self.step, model)
            finally:
                random.setstate(py)
                np.random.set_state(npy)
                model.train()

    def _log(self, record: dict[str, Any]) -> None:
        if not self.main:
            return
        path = self.run_dir / METRICS_FILE
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, allow_nan=True) + "\n")
        except OSError as exc:
            raise TrainingError(f"cannot write {path}: {exc.strerror or exc}; free disk space or pass a writable "
                                "--out") from None

    def _say(self, text: str) -> None:
        if self.main and not self.opts.quiet:
            console = self.bar.console if self.bar is not None else None
            if console is None:
                from rich.console import Console

                console = Console(stderr=True)
            console.print(text, highlight=False)

    def _progress(self) -> contextlib.AbstractContextManager:
        opts = self.opts
        if not self.main or (opts.quiet and opts.progress is None):
            return contextlib.nullcontext(None)
        return _Bar.open(opts.progress, f"{self.model_name}", self.config["steps"], self.step)


class _Clock:
    """Training time: wall time since the start, less the time spent in callbacks (scoring is not training)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.excluded = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.excluded

    @contextlib.contextmanager
    def paused(self) -> Any:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - t


# -- progress -----------------------------------------------------------------------------------------------------
class _Bar:
    """One rich progress task: step, losses, images/s and the time left."""

    def __init__(self, progress: Any, task: Any) -> None:
        self.progress, self.task = progress, task
        self.console = progress.console

    @classmethod
    @contextlib.contextmanager
    def open(cls, progress: Any, description: str, total: int | None, done: int) -> Any:
        own = progress is None
        if own:
            from ganzoo.progress import make_progress

            progress = make_progress()
        task = progress.add_task(description, total=total, completed=done, losses="", speed="")
        bar = cls(progress, task)
        if own:
            with progress:
                yield bar
        else:
            yield bar

    def advance(self) -> None:
        self.progress.advance(self.task)

    def show(self, losses: dict[str, float], ips: float) -> None:
        text = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
        self.progress.update(self.task, losses=text, speed=f"{ips:,.0f} img/s")


# -- losses -------------------------------------------------------------------------------------------------------
class _LossWatch:
    """Collects each step's losses: running means for the log, and the first non-finite value for the error."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.pending: list[tuple[int, list[str], torch.Tensor]] = []
        self.bad: tuple[int, str, float] | None = None

    def add(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        """Record one step's losses (already checked scalars, see ganzoo.guard.checked_losses)."""
        names = list(losses)
        device = next(iter(losses.values())).device
        values = torch.stack([v.to(device, torch.float32) for v in losses.values()])
        self.pending.append((step, names, values))
        for name, v in zip(names, values.unbind()):
            self.sums[name] = self.sums[name] + v if name in self.sums else v.clone()
            self.counts[name] = self.counts.get(name, 0) + 1

    def bad_now(self) -> bool:
        """True when the latest step's losses hold a NaN or an infinity (a host sync)."""
        if self.bad is not None:
            return True
        if not self.pending:
            return False
        ok = bool(torch.isfinite(self.pending[-1][2]).all())
        if not ok:
            self._find()
        else:
            self.pending.clear()
        return not ok

    def first_bad(self) -> tuple[int, str, float] | None:
        """(step, loss name, value) of the first non-finite loss since the last check, else None."""
        if self.bad is None and self.pending:
            self._find()
        return self.bad

    def _find(self) -> None:
        finite = torch.stack([torch.isfinite(v).all() for _, _, v in self.pending]).cpu()
        if not bool(finite.all()):
            i = int((~finite).nonzero()[0])
            step, names, values = self.pending[i]
            values = values.cpu()
            j = int((~torch.isfinite(values)).nonzero()[0])
            self.bad = (step, names[j], float(values[j]))
        self.pending.clear()

    def means(self) -> dict[str, float]:
        """Mean of each loss since the last call."""
        out = {k: float(self.sums[k]) / self.counts[k] for k in self.sums}
        self.sums.clear()
        self.counts.clear()
        return out


# -- helpers ------------------------------------------------------------------------------------------------------
def _check_options(opts: TrainOptions) -> None:
    for flag, value in (("--steps", opts.steps), ("--batch-size", opts.batch_size)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"{flag} {value!r}: must be a positive integer")
    if opts.seed is not None and (not isinstance(opts.seed, int) or opts.seed < 0):
        raise ConfigError(f"--seed {opts.seed!r}: must be a non-negative integer")
    if opts.callback_every < 0:
        raise ConfigError(f"callback_every {opts.callback_every}: must be 0 (only at the end) or positive")
    if opts.max_seconds is not None and not opts.max_seconds > 0:
        raise ConfigError(f"max_seconds {opts.max_seconds}: must be positive")


def _amp(amp: bool | str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether to use GradScalers) for ``--amp``."""
    if amp is False or amp is None or amp == "off":
        return None, False
    choice = "bf16" if amp in (True, "auto") and device.type != "cuda" else "fp16" if amp in (True, "auto") else amp
    if choice == "bf16":
        return torch.bfloat16, False
    if choice == "fp16":
        if device.type != "cuda":
            raise ConfigError("--amp fp16 needs CUDA; on the CPU use --amp (bf16)")
        return torch.float16, True
    raise ConfigError(f"--amp {amp!r}: use bf16 or fp16 (or plain --amp for the device's default)")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _train_seed(seed: int, rank: int) -> int:
    """The seed of the training noise on ``rank`` (different per rank, decorrelated from the initialisation)."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def _rng_state(device: torch.device) -> dict[str, Any]:
    version, keys, gauss = random.getstate()
    name, mt, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": [version, list(keys), gauss],
             "numpy": {"keys": torch.from_numpy(np.asarray(mt, dtype=np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached": float(cached)}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    npy = state["numpy"]
    np.random.set_state(("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached"]))
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def _rank_rng(blob: dict[str, Any], ctx: distributed.Context) -> dict[str, Any]:
    ranks = blob.get("rank_rng")
    if ctx.enabled:
        if ranks and len(ranks) == ctx.world_size:
            return ranks[ctx.rank]
        state = dict(blob["rng"])  # another world size: fresh noise per rank, same data order
        torch.manual_seed(_train_seed(int(blob["config"]["seed"]) + int(blob["step"]), ctx.rank))
        state["torch"] = torch.get_rng_state()
        return state
    return blob["rng"]


def _plain(obj: Any) -> Any:
    """A copy made of YAML/JSON-safe builtins (tuples become lists)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _signals:
    """Ctrl-C and SIGTERM ask the loop to stop after the current step (and write a checkpoint); a second Ctrl-C
    interrupts at once. Only in the main thread; the previous handlers come back afterwards."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.saved[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.run.stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.run.stop_signal = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)

