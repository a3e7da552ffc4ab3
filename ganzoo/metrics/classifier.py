"""Classifier evaluators: a small CNN trained on a labelled data set, its deterministic training and its file."""
from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.data import CACHE_ENV, DataSpec, ImageData, cache_dir
from ganzoo.files import atomic_write, file_problem, os_reason
from ganzoo.metrics.errors import EvaluatorError, MetricsError
from ganzoo.metrics.evaluators import Evaluator, sha256_file
from ganzoo.registry import host

__all__ = [
    "FORMAT", "MAX_BYTES", "ClassifierEvaluator", "ClassifierNet", "FitConfig", "accuracy", "default_holdout",
    "fit_classifier", "fit_evaluator", "load_classifier", "load_labelled_data", "report_fit", "save_classifier",
    "scale_input", "stratified_split",
]

#: The largest classifier evaluator file read (they are a few hundred kilobytes).
MAX_BYTES = 2**30
#: The ``format`` field of a classifier evaluator file.
FORMAT = "ganzoo-classifier/1"


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class ClassifierNet(nn.Module):
    """Conv-BN-ReLU ×4 with two 2×2 max-pools, global average pooling (the features), then a linear classifier."""

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, ...] = (32, 32, 64, 64),
                 dropout: float = 0.2) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.body = nn.Sequential(
            *_block(in_channels, w1), nn.MaxPool2d(2),
            *_block(w1, w2), nn.MaxPool2d(2),
            *_block(w2, w3), *_block(w3, w4),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(w4, num_classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, widths[-1]) and logits (N, num_classes) of images scaled to [-1, 1]."""
        features = self.body(x)
        return features, self.head(features)


def scale_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images → float in [-1, 1] (the classifier's input scale)."""
    return images.float().div(127.5).sub(1.0)


@dataclass
class FitConfig:
    """How a classifier evaluator is trained (every field is recorded in the saved file)."""

    #: Images held out for the accuracy; 0: a fifth of the data set, at most 1,000 (:func:`default_holdout`).
    holdout: int = 0
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    shift: int = 2
    hflip: bool = False
    seed: int = 0
    widths: tuple[int, ...] = (32, 32, 64, 64)
    dropout: float = 0.2
    #: CPU threads while training (1 is deterministic across machines and fastest on a busy 2-core CPU).
    threads: int | None = 1
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)


def default_holdout(n: int) -> int:
    """The hold-out of a data set of ``n`` images when none is given: a fifth of them, at most 1,000."""
    return max(1, min(1000, n // 5))


def stratified_split(labels: torch.Tensor, holdout: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, held-out): about ``holdout`` images held out, each class in proportion, drawn with ``seed``."""
    labels = labels.cpu()
    n = labels.numel()
    holdout = holdout or default_holdout(n)
    if not 0 < holdout < n:
        raise MetricsError(f"--holdout {holdout}: must be between 1 and {n - 1} (the data set has {n} images; "
                           f"leave it out for {default_holdout(n)}, a fifth of them)")
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        k = min(idx.numel() - 1, round(holdout * idx.numel() / n)) if idx.numel() > 1 else 0
        test.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def _augment(x: torch.Tensor, shift: int, hflip: bool, g: torch.Generator) -> torch.Tensor:
    """Random translations of up to ``shift`` pixels (edge-replicated) and optional horizontal flips."""
    n, _, h, w = x.shape
    if shift:
        padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=g).tolist()
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=g).tolist()
        x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    if hflip:
        flip = (torch.rand(n, generator=g) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


@torch.no_grad()
def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Share of uint8 ``images`` that ``net`` (in eval mode) assigns to their ``labels``."""
    was = net.training
    net.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        _, logits = net(scale_input(images[i:i + batch_size]))
        correct += int((logits.argmax(1) == labels[i:i + batch_size]).sum())
    net.train(was)
    return correct / max(1, len(images))


def fit_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes: int, config: FitConfig | None = None,
                   log: Callable[[str], None] | None = None,
                   strata: torch.Tensor | None = None) -> tuple[ClassifierNet, dict[str, Any]]:
    """Train a :class:`ClassifierNet` on uint8 ``images`` with a stratified hold-out; returns (net, record).

    Deterministic for a given seed, machine and thread count (seeded init, shuffling, augmentation and
    dropout; deterministic algorithms on). The record holds the held-out accuracy and the configuration.
    The hold-out is stratified by ``labels``, or by ``strata`` (one int per image) when given.
    """
    cfg = config or FitConfig()
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise MetricsError(f"fit_classifier: expected uint8 images (N, C, H, W), got {images.dtype} "
                           f"{tuple(images.shape)}")
    if num_classes < 2 or int(labels.max()) >= num_classes or int(labels.min()) < 0:
        raise MetricsError(f"fit_classifier: labels must lie in [0, {num_classes - 1}] with at least 2 classes")
    if strata is not None and strata.shape != labels.shape:
        raise MetricsError(f"fit_classifier: {tuple(strata.shape)} strata for {tuple(labels.shape)} labels")
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            train_idx, test_idx = stratified_split(labels if strata is None else strata, cfg.holdout, cfg.seed)
            net = ClassifierNet(images.shape[1], num_classes, tuple(cfg.widths), cfg.dropout).to(device)
            x_train, y_train = images[train_idx].to(device), labels[train_idx].to(device)
            steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
            opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, epochs=cfg.epochs,
                                                        steps_per_epoch=steps_per_epoch)
            g = torch.Generator().manual_seed(cfg.seed + 1)
            t0 = time.perf_counter()
            net.train()
            for epoch in range(cfg.epochs):
                order = torch.randperm(len(train_idx), generator=g)
                total = 0.0
                for s in range(steps_per_epoch):
                    idx = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
                    x = _augment(scale_input(x_train[idx.to(device)]), cfg.shift, cfg.hflip, g)
                    _, logits = net(x)
                    loss = F.cross_entropy(logits, y_train[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += float(loss.detach())
                if log:
                    log(f"epoch {epoch + 1}/{cfg.epochs}: loss {total / steps_per_epoch:.4f}")
            net.eval()
            if log:
                log(f"trained in {time.perf_counter() - t0:.1f} s")
            record = {
                "heldout_accuracy": accuracy(net, images[test_idx].to(device), labels[test_idx].to(device)),
                "train_accuracy": accuracy(net, x_train, y_train),
                "train_count": len(train_idx), "heldout_count": len(test_idx),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "fit": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()
                        if k not in ("extra", "threads", "device")},
                **cfg.extra,
            }
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
        torch.set_num_threads(threads_before)
    return net, record


def save_classifier(path: str | os.PathLike, net: ClassifierNet, *, image_shape: tuple[int, int, int],
                    num_classes: int, record: dict[str, Any]) -> str:
    """Write a classifier evaluator file (weights + architecture + training record) and return its SHA-256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    widths = [m.out_channels for m in net.body if isinstance(m, nn.Conv2d)]
    blob = {
        "format": FORMAT,
        "architecture": {"in_channels": int(image_shape[0]), "num_classes": int(num_classes), "widths": widths,
                         "dropout": float(net.head[0].p)},
        "image_shape": [int(s) for s in image_shape],
        "record": json.loads(json.dumps(record)),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
    }
    buffer = io.BytesIO()  # in memory: torch.save names the archive after the file, and the bytes must not vary
    torch.save(blob, buffer)
    atomic_write(path, buffer.getvalue())
    return sha256_file(path)


class ClassifierEvaluator(Evaluator):
    """A :class:`ClassifierNet` read from its file: GAP features for FID/KID, logits for IS and class accuracy."""

    def __init__(self, net: ClassifierNet, *, name: str, image_shape: tuple[int, int, int], num_classes: int,
                 sha256: str, record: dict[str, Any]) -> None:
        super().__init__()
        # Channels-last weights and input: oneDNN's NHWC convolutions and max-pools take about half the CPU time of
        # NCHW ones here (10,000 images: 1.7 s vs 3.2 s on one thread); the features differ by < 2e-6.
        self.net = net.eval().requires_grad_(False).to(memory_format=torch.channels_last)
        self.name = name
        self.input_shape = tuple(int(s) for s in image_shape)  # type: ignore[assignment]
        self.num_classes = int(num_classes)
        self.num_features = int(net.head[1].in_features)
        self.weights_sha256 = sha256
        self.record = record
        self.resize = f"none (native {'×'.join(map(str, self.input_shape))})"

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, num_features) and class logits (N, num_classes) of uint8 images (N, C, H, W)."""
        if images.dtype != torch.uint8:
            raise MetricsError(f"evaluator {self.name!r}: expected uint8 images, got {images.dtype}")
        return self.net(scale_input(images).contiguous(memory_format=torch.channels_last))

    def protocol(self) -> dict[str, Any]:
        """Name, weights hash, feature width, resize, and the classifier's training data and held-out accuracy."""
        return {**super().protocol(), "evaluator_trained_on": self.record.get("dataset"),
                "evaluator_heldout_accuracy": self.record.get("heldout_accuracy")}


def load_classifier(path: str | os.PathLike, *, expected_sha256: str | None = None,
                    name: str | None = None) -> ClassifierEvaluator:
    """Load a classifier evaluator file, checking its SHA-256 against ``expected_sha256`` when given."""
    path = Path(path)
    problem = file_problem(path, MAX_BYTES)
    if problem:
        raise EvaluatorError(f"evaluator weights {str(path)!r}: {problem}; reinstall ganzoo (shipped weights) or "
                             "re-run 'ganzoo evaluator fit' for that data set")
    digest = sha256_file(path)
    if expected_sha256 and digest != expected_sha256:
        raise EvaluatorError(
            f"evaluator weights {str(path)!r} have SHA-256 {digest}, but {expected_sha256} is recorded for them: "
            "the file is damaged or was replaced. Reinstall ganzoo (shipped weights) or re-run 'ganzoo evaluator "
            "fit' (fitted ones); scores from other weights would not compare.")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EvaluatorError(f"evaluator weights {str(path)!r} cannot be read ({type(exc).__name__}: {exc}); "
                             "re-create them with 'ganzoo evaluator fit'") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise EvaluatorError(f"{str(path)!r} is not a ganzoo classifier evaluator (format {FORMAT!r}); "
                             "create one with 'ganzoo evaluator fit DATASET'")
    arch = blob["architecture"]
    with torch.random.fork_rng(devices=[]):  # the throw-away random init must not move the caller's RNG
        net = ClassifierNet(arch["in_channels"], arch["num_classes"], tuple(arch["widths"]), arch["dropout"])
    net.load_state_dict(blob["state_dict"])
    return ClassifierEvaluator(net, name=name or path.stem, image_shape=tuple(blob["image_shape"]),
                               num_classes=arch["num_classes"], sha256=digest, record=blob.get("record") or {})


def load_labelled_data(dataset: "str | DataSpec", root: str | os.PathLike | None = None,
                       download: bool = False) -> ImageData:
    """A registered data set (a name, or a :class:`ganzoo.data.DataSpec` with options) as images (``download``
    only when asked)."""
    spec = dataset if isinstance(dataset, DataSpec) else DataSpec.create(dataset, root=root)
    return spec.load(download=download)


def fitted_dir() -> Path:
    """Where ``ganzoo evaluator fit`` saves evaluators (``<cache>/evaluators``)."""
    return cache_dir() / "evaluators"


def fitted_evaluators() -> dict[str, dict[str, Any]]:
    """Evaluators fitted with ``ganzoo evaluator fit``, by name: their sidecar records (hash, data set, accuracy)."""
    out: dict[str, dict[str, Any]] = {}
    folder = fitted_dir()
    if not folder.is_dir():
        return out
    for meta in sorted(folder.glob("*.json")):
        if file_problem(meta, 2**20):
            continue
        try:
            record = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and meta.with_suffix(".pt").is_file():
            out[meta.stem] = {**record, "path": str(meta.with_suffix(".pt"))}
    return out


def fit_evaluator(dataset: "str | DataSpec", *, name: str | None = None, out: str | os.PathLike | None = None,
                  config: FitConfig | None = None, root: str | os.PathLike | None = None, download: bool = False,
                  log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train a classifier evaluator on a labelled data set and save it (weights + ``.json`` record with its SHA-256).

    Saved as ``<cache>/evaluators/<name>.pt`` (usable by name) unless ``out`` gives a path (usable by path).
    Returns the record: name, path, sha256, dataset, held-out accuracy and the training configuration.
    """
    spec = dataset if isinstance(dataset, DataSpec) else DataSpec.create(dataset, root=root)
    name = name or f"{spec.name}-cnn"
    if name in host().table("evaluators"):
        raise MetricsError(f"evaluator name {name!r} is taken by a registered evaluator; pass another with --name")
    data = spec.load(download=download)
    if data.num_classes < 2:
        raise MetricsError(f"data set {spec.describe()} has {data.num_classes} class(es); a classifier evaluator needs "
                           "labels of at least 2 classes (score unlabelled data with a registered evaluator: 'ganzoo "
                           "evaluator list')")
    cfg = dataclasses.replace(config or FitConfig())
    cfg.holdout = cfg.holdout or default_holdout(len(data))
    cfg.extra = {**cfg.extra, "dataset": spec.describe(), "command": f"ganzoo evaluator fit {spec.name}"}
    net, record = fit_classifier(data.images, data.labels, data.num_classes, cfg, log=log)
    path = Path(out) if out else fitted_dir() / f"{name}.pt"
    try:
        digest = save_classifier(path, net.cpu(), image_shape=data.image_shape, num_classes=data.num_classes,
                                 record=record)
        sidecar = {"name": name if not out else path.stem, "dataset": data.name, "sha256": digest,
                   "heldout_accuracy": record["heldout_accuracy"], "heldout_count": record["heldout_count"],
                   "image_shape": list(data.image_shape), "num_classes": data.num_classes,
                   "class_names": data.class_names, "fit": record["fit"]}
        atomic_write(path.with_suffix(".json"), json.dumps(sidecar, indent=2))
    except OSError as exc:
        fix = "pass a writable --out" if out else f"pass --out PATH, or point ${CACHE_ENV} at a writable folder"
        raise MetricsError(f"cannot write the evaluator to {path}: {os_reason(exc)}; {fix}") from None
    return {**sidecar, "path": str(path), "train_accuracy": record["train_accuracy"]}


def report_fit(record: dict[str, Any], path: str | os.PathLike, digest: str, log: Callable[[str], None] = print
               ) -> None:
    """Print what a shipped evaluator's training command reports: held-out accuracy, the file written, its SHA-256."""
    log(f"held-out accuracy {record['heldout_accuracy']:.4f} on {record['heldout_count']} images "
        f"(train {record['train_accuracy']:.4f})")
    log(f"wrote {path} ({Path(path).stat().st_size:,} bytes)")
    log(f"SHA-256 {digest}")
