"""What a training run is: ``TrainOptions`` (what the caller asked) + zoo.yaml + the checkpoint it resumes from →
a frozen ``RunConfig``. Pure: every check and every resume rule lives here, and nothing is written."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ganzoo.config import Zoo, parse_set
from ganzoo.data import DataSpec
from ganzoo.errors import ConfigError, DataError
from ganzoo.model import GenerativeModel
from ganzoo.rng import check_seed

__all__ = ["DEFAULT_RUNS", "RunConfig", "TrainOptions", "check_options", "foreign_checkpoint", "resolve",
           "resolve_run_dir"]

#: Folder of the runs when neither ``out`` nor ``name`` says where (``runs/<model>``).
DEFAULT_RUNS = "runs"
_AMP = {"bf16": "bfloat16", "fp16": "float16"}


@dataclass
class TrainOptions:
    """What to train and how; ``None`` takes the value from zoo.yaml (``train.*`` and ``models.NAME.*``) or, with
    ``resume``, from the run being continued."""

    model: str
    dataset: str | None = None
    steps: int | None = None
    batch_size: int | None = None
    seed: int | None = None
    #: The run folder; with ``name`` the folder that holds the run ``name`` (default ``runs``).
    out: str | os.PathLike | None = None
    #: A run name: the run folder is ``out/name`` and must stay inside ``out``.
    name: str | None = None
    resume: bool = False
    #: Start afresh in a folder that already holds a run (its checkpoints, samples and metrics are replaced);
    #: None: yes from Python, while the CLI passes False unless --overwrite is given.
    overwrite: bool | None = None
    device: str = "auto"
    #: None (off; with ``resume`` the run's own setting), False, True (bf16 on CPU, fp16 on CUDA), "bf16", "fp16".
    amp: bool | str | None = None
    overrides: list[str] = field(default_factory=list)
    config: str | os.PathLike | None = None
    data_root: str | os.PathLike | None = None
    download: bool = False
    #: Options for the data set loader (see ``ganzoo datasets``), over zoo.yaml's ``train.dataset_options``.
    dataset_options: dict[str, Any] | None = None
    #: Train on this in-memory data set (a ``ganzoo.data.ImageData``) instead of loading ``dataset``.
    data: Any = None
    #: Stop after this many seconds of training in total (over resumes too); with ``steps`` None no step limit.
    max_seconds: float | None = None
    #: ``callback(step, model)`` on rank 0 every ``callback_every`` steps and at the end (RNG state preserved); a
    #: mapping of numbers it returns (``{"fid": 12.3}``) goes to the run's loggers at that step.
    callback: Callable[[int, GenerativeModel], Mapping[str, float] | None] | None = None
    callback_every: int = 0
    #: Compile the networks with ``torch.compile`` (``nn.Module.compile``: the weights' names do not change); the
    #: first step, which compiles, is timed apart (``RunSummary.compile_seconds``) and not counted in images/s.
    compile: bool = False
    #: Registered loggers for this run on top of zoo.yaml's ``train.loggers`` (``--logger``), e.g. ["tensorboard"].
    loggers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one run, resolved and checked; ``record()`` is what config.yaml and checkpoints hold."""

    model: str
    run_dir: Path
    dataset: str
    dataset_options: dict[str, Any]
    seed: int
    batch_size: int
    steps: int | None
    max_seconds: float | None
    amp: str | None  # "bfloat16", "float16" or None
    world_size: int
    train: dict[str, Any]
    hparams: dict[str, Any] = field(default_factory=dict)
    image_shape: tuple[int, int, int] | None = None
    num_classes: int | None = None
    class_names: list[str] | None = None
    #: The folder the data set was read from when one was given (absolute; None: the default folder).
    data_root: str | None = None
    ganzoo_version: str = ""
    #: The checkpoint this run continues (None: a fresh run) and its step and training time.
    resumed_from: Path | None = None
    start_step: int = 0
    wall_before: float = 0.0

    def record(self) -> dict[str, Any]:
        """The settings as plain YAML/JSON data (config.yaml, the ``config`` of every checkpoint)."""
        return _plain({"model": self.model, **self.data_spec().record(),
                       "image_shape": self.image_shape, "num_classes": self.num_classes,
                       "class_names": self.class_names, "seed": self.seed, "batch_size": self.batch_size,
                       "steps": self.steps, "max_seconds": self.max_seconds, "world_size": self.world_size,
                       "hparams": self.hparams, "train": self.train, "amp": self.amp or False,
                       "ganzoo_version": self.ganzoo_version})

    def data_spec(self) -> DataSpec:
        """The data set this run trains on: name, loader options, folder."""
        return DataSpec(self.dataset, dict(self.dataset_options), self.data_root)

    def with_data(self, image_shape: tuple[int, ...], num_classes: int, class_names: list[str] | None) -> RunConfig:
        """This config with the data set's facts; a resumed run must see the data it was trained on."""
        shape = tuple(int(s) for s in image_shape)
        if self.image_shape is not None and (shape != self.image_shape or num_classes != self.num_classes):
            raise DataError(f"--resume: the data set now has images {shape} and {num_classes} classes; the run was "
                            f"trained on {self.image_shape} and {self.num_classes}. Resume with the same data set")
        return dataclasses.replace(self, image_shape=shape, num_classes=int(num_classes),
                                   class_names=list(class_names) if class_names else None)

    def with_hparams(self, hparams: dict[str, Any]) -> RunConfig:
        """This config with the model's resolved hyperparameters."""
        return dataclasses.replace(self, hparams=_plain(hparams))


def check_options(opts: TrainOptions) -> None:
    """Refuse impossible options before anything is loaded."""
    for flag, value in (("--steps", opts.steps), ("--batch-size", opts.batch_size)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"{flag} {value!r}: must be a positive integer")
    if opts.seed is not None:
        check_seed("--seed", opts.seed)
    if opts.callback_every < 0:
        raise ConfigError(f"callback_every {opts.callback_every}: must be 0 (only at the end) or positive")
    if opts.max_seconds is not None and not opts.max_seconds > 0:
        raise ConfigError(f"--minutes {opts.max_seconds / 60:g}: must be positive")
    if opts.resume and opts.overwrite is True:
        raise ConfigError("--resume continues a run and --overwrite starts it afresh; pass one of them")
    amp_dtype(opts.amp, "cpu", check_device=False)


def amp_dtype(amp: bool | str | None, device_type: str, check_device: bool = True) -> str | None:
    """The autocast dtype name of ``--amp`` on ``device_type``: bf16 on CPU, fp16 (+ GradScaler) on CUDA."""
    if amp is None or amp is False or amp == "off":
        return None
    if amp is True or amp == "auto":
        return "float16" if device_type == "cuda" else "bfloat16"
    if amp not in _AMP and amp not in _AMP.values():
        raise ConfigError(f"--amp {amp!r}: use bf16 or fp16 (or plain --amp for the device's default)")
    name = _AMP.get(str(amp), str(amp))
    if check_device and name == "float16" and device_type != "cuda":
        raise ConfigError("--amp fp16 needs CUDA; on the CPU use --amp (bf16)")
    return name


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


def foreign_checkpoint(blob: dict[str, Any], model: str) -> str:
    """Why a checkpoint cannot continue a run of ``model`` ('' when it can, as far as its config says)."""
    config = blob.get("config")
    if blob.get("partial_step"):
        return "it was written in the middle of a step (by ganzoo 0.1's second Ctrl-C)"
    if not isinstance(config, dict):
        return "its config is not a mapping"
    if config.get("model") != model:
        return f"it holds a {config.get('model')!r} run, not {model!r}"
    for key in ("image_shape", "num_classes", "seed", "batch_size", "dataset"):
        if key not in config:
            return f"its config lacks {key!r}"
    return ""


def resolve(opts: TrainOptions, zoo: Zoo, *, model: str, run_dir: Path, world_size: int, device_type: str,
            checkpoint: dict[str, Any] | None = None, resumed_from: Path | None = None,
            version: str = "") -> RunConfig:
    """The run's settings: from ``opts`` over zoo.yaml for a fresh run; from ``checkpoint`` for a resumed one,
    where a flag that contradicts the run is an error."""
    tcfg = zoo.section("train")
    if not isinstance(tcfg.get("dataset_options"), dict):
        tcfg["dataset_options"] = {}
    train = _plain(tcfg)
    if checkpoint is not None:
        cfg = checkpoint["config"]
        _check_consistency(opts, cfg, model, run_dir, device_type)
        steps, seconds = cfg.get("steps"), cfg.get("max_seconds")
        if opts.steps is not None:
            steps = opts.steps
        if opts.max_seconds is not None:
            seconds = opts.max_seconds
        if steps is None and seconds is None:
            steps = tcfg["steps"]
        amp = amp_dtype(opts.amp if opts.amp is not None else (cfg.get("amp") or None), device_type)
        # The data it was trained on; --data-root and --data-option may say where those files are now.
        spec = DataSpec.from_record(cfg).override(options=opts.dataset_options, root=opts.data_root)
        return RunConfig(model=model, run_dir=run_dir, dataset=spec.name, dataset_options=spec.options,
                         data_root=spec.root, seed=int(cfg["seed"]),
                         batch_size=int(cfg["batch_size"]), steps=steps, max_seconds=seconds, amp=amp,
                         world_size=world_size, train=train, hparams=dict(cfg.get("hparams") or {}),
                         image_shape=tuple(int(s) for s in cfg["image_shape"]), num_classes=int(cfg["num_classes"]),
                         class_names=cfg.get("class_names"), ganzoo_version=version, resumed_from=resumed_from,
                         start_step=int(checkpoint["step"]), wall_before=float(checkpoint.get("wall_seconds", 0.0)))
    dataset = opts.data.name if opts.data is not None else (opts.dataset or tcfg["dataset"])
    spec = DataSpec.create(dataset, {**tcfg["dataset_options"], **(opts.dataset_options or {})}, opts.data_root)
    hparams = zoo.model_hparams(model)
    batch = opts.batch_size or hparams.get("batch_size") or 64
    steps = opts.steps if opts.steps is not None else (None if opts.max_seconds else tcfg["steps"])
    return RunConfig(model=model, run_dir=run_dir, dataset=dataset, dataset_options=_plain(spec.options),
                     data_root=None if opts.data is not None else spec.root,
                     seed=opts.seed if opts.seed is not None else int(tcfg["seed"]), batch_size=int(batch),
                     steps=steps, max_seconds=opts.max_seconds, amp=amp_dtype(opts.amp, device_type),
                     world_size=world_size, train=train, ganzoo_version=version)


def _check_consistency(opts: TrainOptions, cfg: dict[str, Any], model: str, run_dir: Path, device_type: str) -> None:
    asked = {"--seed": (opts.seed, cfg.get("seed")), "--batch-size": (opts.batch_size, cfg.get("batch_size")),
             "--dataset": (opts.dataset, cfg.get("dataset"))}
    if opts.amp is not None:
        asked["--amp"] = (amp_dtype(opts.amp, device_type) or "off", cfg.get("amp") or "off")
    for item in opts.overrides:
        path, value = parse_set(item)
        if path[0] == "models":
            path = path[1:]
        if len(path) == 2 and path[0] == model:
            asked[f"--set {item}"] = (value, (cfg.get("hparams") or {}).get(path[1], value))
    changed = [f"{flag} (the run has {had!r})" for flag, (new, had) in asked.items() if new is not None and new != had]
    if changed:
        raise ConfigError(f"--resume continues {run_dir} exactly as it was started; these differ: "
                          f"{'; '.join(changed)}. Drop them, or start a new run in another --out")


def _plain(obj: Any) -> Any:
    """A copy made of YAML/JSON-safe builtins (tuples become lists)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)
