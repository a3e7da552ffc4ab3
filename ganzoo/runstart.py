"""How a run starts: fresh from the options and zoo.yaml, or resumed from the newest checkpoint that loads into its
model. Either way the result is the resolved ``RunConfig``, the data set, the model and the checkpoint's contents."""
from __future__ import annotations

from typing import Any, Callable

import torch

from ganzoo import __version__, create_model, distributed, model_class, rng
from ganzoo.checkpoint import build_model, nonfinite_tensor, scan_checkpoints
from ganzoo.config import Zoo
from ganzoo.data import ImageData
from ganzoo.errors import CheckpointError, ConfigError
from ganzoo.runconfig import RunConfig, TrainOptions, foreign_checkpoint, resolve
from ganzoo.rundir import RunDir

__all__ = ["Started", "fresh", "resumed"]

#: (config, data set, model, checkpoint contents or None for a fresh run)
Started = tuple[RunConfig, ImageData, Any, "dict[str, Any] | None"]


def fresh(opts: TrainOptions, zoo: Zoo, ctx: distributed.Context, rundir: RunDir) -> Started:
    """A new run: settings from ``opts`` over zoo.yaml, the data set, a freshly seeded model."""
    if rundir.holds_run() and opts.overwrite is False:
        raise ConfigError(f"{rundir.path} already holds a run; pass --resume to continue it, --overwrite to start it "
                          "afresh, or choose another --out")
    cfg = resolve(opts, zoo, model=rundir.model, run_dir=rundir.path, world_size=ctx.world_size,
                  device_type=ctx.device.type, version=__version__)
    data = _load_data(opts, ctx, cfg)
    cfg = cfg.with_data(data.image_shape, data.num_classes, data.class_names)
    rng.seed_everything(cfg.seed)
    extra = {"batch_size": cfg.batch_size} if "batch_size" in model_class(cfg.model).defaults else {}
    model = create_model(cfg.model, image_shape=cfg.image_shape, num_classes=cfg.num_classes, zoo=zoo, **extra)
    return cfg.with_hparams(vars(model.hp)), data, model, None


def resumed(opts: TrainOptions, zoo: Zoo, ctx: distributed.Context, rundir: RunDir,
            say: Callable[[str], None]) -> Started:
    """A run continued from its newest checkpoint that loads into the model, falling back past every one that does
    not (damaged, crafted, foreign, non-finite weights: each skipped file is named through ``say``); flags that
    contradict the run are errors."""
    skipped, loaded = [], {}
    for path, blob, why in scan_checkpoints(rundir.path):
        why = why or foreign_checkpoint(blob, rundir.model)
        if not why and (bad := nonfinite_tensor(blob["state"])):
            why = f"checkpoint {path} holds non-finite weights (NaN or infinity, first in {bad!r})"
        if not why and (problem := _position_problem(blob.get("data"))):
            why = f"checkpoint {path} is damaged: {problem}"
        if not why:
            cfg = resolve(opts, zoo, model=rundir.model, run_dir=rundir.path, world_size=ctx.world_size,
                          device_type=ctx.device.type, checkpoint=blob, resumed_from=path, version=__version__)
            key = repr(cfg.data_spec())
            data = loaded[key] = loaded.get(key) or _load_data(opts, ctx, cfg)
            cfg = cfg.with_data(data.image_shape, data.num_classes, data.class_names)
            rng.seed_everything(cfg.seed)
            try:
                model = build_model(blob["config"], path)
                model.load_training_state(blob["state"])
                # the harness restores this random state next; a damaged one must be skipped here, not fail there
                rng.set_state(rng.rank_state(blob, ctx.rank, ctx.world_size, ctx.enabled), ctx.device)
            except CheckpointError as exc:
                why = str(exc)
            except (KeyError, RuntimeError, ValueError, TypeError, IndexError, AttributeError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                why = f"checkpoint {path} does not load into {rundir.model!r} ({first})"
        if why:
            skipped.append(why)
            rundir.mark(path, good=False)
            continue
        rundir.mark(path, good=True)
        for reason in skipped:
            say(f"[yellow]warning:[/] skipped: {reason}")
        return cfg.with_hparams(vars(model.hp)), data, model, blob
    if not skipped:
        raise CheckpointError(f"--resume: {rundir.path} holds no checkpoints (checkpoints/step-*.pt); start it "
                              "without --resume")
    raise CheckpointError(f"--resume: no checkpoint of {rundir.path} can continue this run: {'; '.join(skipped)}")


def _position_problem(state: Any) -> str:
    """What is wrong with a checkpoint's position in the data (``BatchStream.state_dict()``), or ''."""
    if not isinstance(state, dict):
        return "its position in the data is not a mapping"
    counts = [state.get(k) for k in ("epoch", "offset", "size")]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        return "its position in the data (epoch, offset, size) is not made of non-negative integers"
    perm, gen = state.get("perm"), state.get("generator")
    if perm is not None and not (torch.is_tensor(perm) and perm.dtype == torch.int64 and perm.shape == (counts[2],)
                                 and (not perm.numel() or 0 <= int(perm.min()) <= int(perm.max()) < counts[2])):
        return f"its permutation of the data is not {counts[2]} indices of the data set"
    if not (torch.is_tensor(gen) and gen.dtype == torch.uint8 and gen.shape == torch.Generator().get_state().shape):
        return "its data order's random state is not a generator state"
    return ""


def _load_data(opts: TrainOptions, ctx: distributed.Context, cfg: RunConfig) -> ImageData:
    if opts.data is not None:
        return opts.data
    if not ctx.is_main:  # rank 0 first: it may download or build the cache that the other ranks then read
        distributed.barrier(ctx)
    try:
        return cfg.data_spec().load(download=opts.download and ctx.is_main)
    finally:
        if ctx.is_main:
            distributed.barrier(ctx)
