"""FID, IS, KID, precision/recall/density/coverage, class accuracy and intra-class FID of generated images.

A translation model (``translates``) is scored on its A→B translations of the data's domain-A images (class 0)
against the real domain-B images (class 1), plus ``class_kept`` (the evaluator gives a translation the class it gives
its source) and ``fid_untranslated`` (the sources themselves against real B: the baseline to beat).

torchmetrics computes FID's running moments, IS and KID with the evaluator as its ``feature`` module; the Fréchet
term itself is :func:`ganzoo.metrics.frechet_distance` in float64. Precision, recall, density and coverage come from
:func:`ganzoo.metrics.prdc_scores` (the ``prdc`` package) on the same features. Real statistics are cached on disk,
keyed by their protocol (evaluator and weights hash, resize, data set and its fingerprint, real split).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import warnings
from importlib import metadata
from typing import Any, Callable, Iterator

import torch

from ganzoo.config import Zoo, load_zoo
from ganzoo.data import DataSpec, ImageData, select_classes, to_uint8, to_unit_range
from ganzoo.environment import resolve_device
from ganzoo.guard import checked_sample
from ganzoo.metrics.cache import RealStats, load_stats, save_stats, stats_key
from ganzoo.metrics.errors import MetricsError
from ganzoo.metrics.evaluators import Evaluator, check_images
from ganzoo.metrics.frechet import frechet_distance
from ganzoo.metrics.heads import Head, SharedForward
from ganzoo.metrics.lookup import load_evaluator
from ganzoo.metrics.manifold import prdc_protocol, prdc_scores, prdc_subset_size
from ganzoo.translation import DOMAINS, domain_picks, translate_images

__all__ = [
    "CLASS_KEPT", "FAKE_INPUT", "Scorer", "balanced_labels", "dataset_evaluator", "evaluate", "extract",
    "fingerprint", "generator_weights", "load_real_data", "prepare_scoring", "real_statistics", "score_images",
]
#: How generated images reach the evaluator (stated in every protocol).
FAKE_INPUT = "generated [-1, 1] images quantised to uint8 [0, 255] like a saved PNG (ganzoo.data.to_uint8)"
#: What ``class_kept`` measures (stated in a translation model's protocol).
CLASS_KEPT = ("share of translated images whose evaluator class (argmax of its logits) equals the evaluator's class "
              "of their source image")


def _moments(total: torch.Tensor, outer: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance (float64) from a sum of features and a sum of their outer products."""
    mean = total.double() / n
    cov = (outer.double() - n * torch.outer(mean, mean)) / (n - 1)
    return mean, cov


def _feature_moments(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = features.double()
    return _moments(f.sum(0), f.T @ f, f.shape[0])


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed the global RNGs inside, and leave the caller's RNG state untouched after (training goes on exactly)."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class Scorer:
    """Accumulates generated images batch by batch, then computes every score against cached real statistics."""

    def __init__(self, evaluator: Evaluator, real: RealStats, *, seed: int = 0, is_splits: int = 10,
                 kid_subsets: int = 50, kid_subset_size: int = 1000, prdc_k: int = 5, prdc_samples: int = 5000,
                 device: str | torch.device = "cpu") -> None:
        """Scores fake images against ``real`` with ``evaluator``; the rest is the protocol (zoo.yaml ``metrics``)."""
        # here, not at the top: torchmetrics adds seconds to every ganzoo command's start-up
        from torchmetrics.image import FrechetInceptionDistance, InceptionScore, KernelInceptionDistance

        self.evaluator = evaluator.eval()
        self.real = real
        self.seed = seed
        self.device = torch.device(device)
        self.is_splits = is_splits
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.prdc_k = prdc_k
        self.prdc_samples = prdc_samples
        self.shared = SharedForward(evaluator)
        features = Head(self.shared, 0, evaluator.num_features)
        logits = Head(self.shared, 1, int(real.logits.shape[1]))
        # normalize=False for all three: images arrive as uint8 already. (With a custom feature module FID and KID
        # ignore ``normalize``, but InceptionScore would still multiply the images by 255.)
        with warnings.catch_warnings():  # "will save all extracted features in buffer": intended, we need them
            warnings.filterwarnings("ignore", message=".*save all extracted features.*")
            self.fid = FrechetInceptionDistance(feature=features, reset_real_features=False, normalize=False)
            self.kid = KernelInceptionDistance(feature=features, subsets=kid_subsets, subset_size=kid_subset_size,
                                               reset_real_features=False, normalize=False)
            self.isc = InceptionScore(feature=logits, splits=is_splits, normalize=False)
        for metric in (self.fid, self.kid, self.isc):
            metric.to(self.device)
        # The real side comes from the cache: FID's float64 running sums and KID's feature buffer.
        f = real.features.to(self.device)
        self.fid.real_features_sum = f.double().sum(0)
        self.fid.real_features_cov_sum = f.double().T @ f.double()
        self.fid.real_features_num_samples = torch.tensor(real.count, device=self.device)
        self.kid.real_features = [f]
        self.labels: list[torch.Tensor] = []
        self.source_classes: list[torch.Tensor] = []

    @torch.no_grad()
    def update(self, images: torch.Tensor, labels: torch.Tensor | None = None,
               source_classes: torch.Tensor | None = None) -> None:
        """Add a batch of generated uint8 images (and the labels they were generated for, if conditional; for
        translated images the evaluator's classes of their sources, which ``class_kept`` compares with)."""
        images = check_images(images, "generated images").to(self.device)
        self.fid.update(images, real=False)
        self.kid.update(images, real=False)
        self.isc.update(images)
        self.shared.clear()
        if labels is not None:
            self.labels.append(labels.reshape(-1).long().cpu())
        if source_classes is not None:
            self.source_classes.append(source_classes.reshape(-1).long().cpu())

    @property
    def count(self) -> int:
        """Generated images added so far."""
        return int(self.fid.fake_features_num_samples)

    def compute(self) -> dict[str, Any]:
        """Every score plus the settings used (``kid_subset_size`` after capping, intra-FID notes)."""
        n, d, n_real = self.count, self.evaluator.num_features, self.real.count
        _check_enough(n, d, self.evaluator.name, "generated")
        _check_enough(n_real, d, self.evaluator.name, "real")
        mu_f, cov_f = _moments(self.fid.fake_features_sum, self.fid.fake_features_cov_sum, n)
        out: dict[str, Any] = {"fid": frechet_distance(*self._real_moments(), mu_f, cov_f)}
        with _seeded(self.seed, self.device):  # IS and KID draw random splits and subsets from the global RNG
            is_mean, is_std = self.isc.compute()
            kid_mean, kid_std = self.kid.compute()
        out.update(inception_score=float(is_mean), inception_score_std=float(is_std),
                   kid=float(kid_mean), kid_std=float(kid_std))
        out.update(prdc_scores(self.real.features, torch.cat(self.kid.fake_features), k=self.prdc_k,
                               samples=self.prdc_samples, seed=self.seed))
        preds = torch.cat(self.isc.features).float().cpu().argmax(1)
        k = self.evaluator.num_classes
        if k:
            out["class_distribution"] = (torch.bincount(preds, minlength=k).double() / n).tolist()
        if self.source_classes:
            out["class_kept"] = float((preds == torch.cat(self.source_classes)).double().mean())
        if self.labels:
            labels = torch.cat(self.labels)
            if k and k == self.real.info.get("num_classes"):
                out["class_accuracy"] = float((preds == labels).double().mean())
            else:
                out["class_accuracy"] = None
                out["class_accuracy_note"] = (
                    f"evaluator {self.evaluator.name!r} does not predict the {self.real.info.get('num_classes')} "
                    f"classes of {self.real.info.get('dataset')!r}; fit one with 'ganzoo evaluator fit'")
            out.update(self._intra_fid(labels))
        for key in ("fid", "inception_score", "kid"):
            if not math.isfinite(out[key]):
                raise MetricsError(f"{key} came out {out[key]}: the evaluator's outputs are not finite; check the "
                                   "images and the evaluator's weights")
        return out

    def _real_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        return _moments(self.fid.real_features_sum, self.fid.real_features_cov_sum, self.real.count)

    def fid_of(self, features: torch.Tensor, what: str = "baseline") -> float:
        """FID of other images' evaluator ``features`` (N, D) against the same real statistics (e.g. a baseline's)."""
        _check_enough(len(features), self.evaluator.num_features, self.evaluator.name, what)
        return frechet_distance(*self._real_moments(), *_feature_moments(features.to(self.device)))

    def _intra_fid(self, labels: torch.Tensor) -> dict[str, Any]:
        """Mean over classes of the FID between real and generated images of that class."""
        if self.real.labels is None:
            return {"intra_fid": None, "intra_fid_note": "the real data set has no labels"}
        fake = torch.cat(self.kid.fake_features).cpu()
        real, real_labels = self.real.features, self.real.labels
        d = self.evaluator.num_features
        per_class: list[float] = []
        for c in torch.unique(labels).tolist():
            f, r = fake[labels == c], real[real_labels == c]
            if min(len(f), len(r)) <= d:
                return {"intra_fid": None, "intra_fid_note": (
                    f"class {c} has {len(f)} generated and {len(r)} real images; intra-class FID needs more than "
                    f"{d} of each (the evaluator's feature width): raise n to at least "
                    f"{(d + 1) * len(torch.unique(labels))}")}
            per_class.append(frechet_distance(*_feature_moments(r), *_feature_moments(f)))
        return {"intra_fid": sum(per_class) / len(per_class), "intra_fid_per_class": per_class}


def _check_enough(n: int, d: int, evaluator: str, what: str) -> None:
    if n == 0:
        raise MetricsError(f"no {what} images to score; give at least {d + 1} (10,000 is the usual)")
    if n <= d:
        raise MetricsError(f"{n} {what} images but evaluator {evaluator!r} has {d} features: the covariance needs "
                           f"more samples than features; use at least {d + 1} (10,000 is the usual)")


# -- real statistics ---------------------------------------------------------------------------------------------
@torch.no_grad()
def extract(evaluator: Evaluator, images: torch.Tensor, *, batch_size: int = 500, device: str | torch.device = "cpu",
            progress: Any = None, description: str = "features") -> tuple[torch.Tensor, torch.Tensor]:
    """Features and logits (float32, on the CPU) of uint8 ``images``, in batches on ``device``."""
    check_images(images)
    evaluator.eval().to(device)
    feats, logits = [], []
    task = progress.add_task(description, total=len(images)) if progress is not None else None
    for i in range(0, len(images), batch_size):
        f, lg = evaluator(images[i:i + batch_size].to(device))
        feats.append(f.float().cpu())
        logits.append(lg.float().cpu())
        if task is not None:
            progress.advance(task, min(batch_size, len(images) - i))
    if task is not None:
        progress.remove_task(task)
    return torch.cat(feats), torch.cat(logits)


def fingerprint(images: torch.Tensor, labels: torch.Tensor | None) -> str:
    """SHA-256 of a data set's pixels and labels (part of the cache key: changed data never hits a stale cache)."""
    h = hashlib.sha256(str(tuple(images.shape)).encode())
    h.update(images.contiguous().cpu().numpy().tobytes())
    if labels is not None:
        h.update(labels.long().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def load_real_data(dataset: "str | DataSpec | ImageData") -> ImageData:
    """The real images of ``dataset`` (a name, a :class:`ganzoo.data.DataSpec` or the images); never downloads."""
    if isinstance(dataset, ImageData):
        return dataset
    return (dataset if isinstance(dataset, DataSpec) else DataSpec.create(str(dataset))).load()


def real_statistics(evaluator: Evaluator, data: Any, *, n_real: int = 0, batch_size: int = 500,
                    device: str | torch.device = "cpu", cache_dir: Any = None, progress: Any = None,
                    use_cache: bool = True) -> RealStats:
    """Evaluator features of the real images of ``data`` (a data set name or ImageData), from the cache if there.

    ``n_real`` > 0 scores a seeded random subset of that size (seed 0) instead of every image.
    """
    data = load_real_data(data)
    images, labels = data.images, data.labels
    evaluator.check_image_shape(tuple(images.shape[1:]))
    total = len(images)
    if n_real and n_real < total:
        idx = torch.randperm(total, generator=torch.Generator().manual_seed(0))[:n_real].sort().values
        images, labels = images[idx], labels[idx]
        split = f"random {n_real} of {total} images (seed 0)"
    else:
        split = f"all {total} images"
    info = {"dataset": data.name, "real_split": split, "real_count": len(images),
            "image_shape": list(images.shape[1:]), "num_classes": data.num_classes}
    key = stats_key({**evaluator.protocol(), **info, "data_sha256": fingerprint(images, labels)})
    if use_cache:
        cached = load_stats(key, cache_dir)
        if cached is not None:
            return cached
    features, logits = extract(evaluator, images, batch_size=batch_size, device=device, progress=progress,
                               description=f"real {data.name} features")
    stats = RealStats(features, logits, labels.clone(), info, key)
    if use_cache:
        try:
            save_stats(stats, cache_dir)
        except OSError:  # an unwritable cache only costs the next score this extraction again
            pass
    return stats


# -- scoring -------------------------------------------------------------------------------------------------
def _settings(zoo: Zoo | None = None) -> dict[str, Any]:
    return (zoo if zoo is not None else load_zoo()).section("metrics")


def dataset_evaluator(dataset: str, zoo: Zoo | None = None) -> str:
    """The evaluator zoo.yaml assigns to ``dataset`` (``datasets.<name>.evaluator``), else ``metrics.evaluator``."""
    zoo = zoo if zoo is not None else load_zoo()
    entry = (zoo.data.get("datasets") or {}).get(dataset) or {}
    return entry.get("evaluator") or zoo.section("metrics")["evaluator"]


def _protocol(evaluator: Evaluator, real: RealStats, scorer: Scorer, fake_count: int, labels: str) -> dict[str, Any]:
    try:
        tm_version = metadata.version("torchmetrics")
    except metadata.PackageNotFoundError:  # pragma: no cover
        tm_version = None
    return {
        **evaluator.protocol(),
        "dataset": real.info["dataset"],
        "real_split": real.info["real_split"],
        "real_count": real.count,
        "fake_count": fake_count,
        "seed": scorer.seed,
        "labels": labels,
        "input": FAKE_INPUT,
        "fid": "Fréchet distance of evaluator features, float64",
        "is_splits": scorer.is_splits,
        "kid_subsets": scorer.kid_subsets,
        "kid_subset_size": scorer.kid_subset_size,
        "kid_kernel": "polynomial, degree 3, gamma 1/D, coef 1",
        **prdc_protocol(scorer.prdc_k, prdc_subset_size(real.count, fake_count, scorer.prdc_samples), real.count,
                        fake_count),
        "torchmetrics": tm_version,
    }


def score_images(images: torch.Tensor, real: RealStats, evaluator: Evaluator, *, labels: torch.Tensor | None = None,
                 seed: int = 0, batch_size: int | None = None, device: str | torch.device = "cpu",
                 zoo: Any = None) -> dict[str, Any]:
    """Score a tensor of uint8 images (N, C, H, W) against ``real``; ``labels`` adds class accuracy and intra-FID."""
    images = check_images(images)
    cfg = _settings(zoo)
    scorer = _scorer(evaluator, real, len(images), seed, device, cfg)
    bs = batch_size or cfg["batch_size"]
    for i in range(0, len(images), bs):
        scorer.update(images[i:i + bs], None if labels is None else labels[i:i + bs])
    scores = scorer.compute()
    scores["protocol"] = _protocol(evaluator, real, scorer, len(images),
                                   "the given labels" if labels is not None else "none")
    return scores


def _scorer(evaluator: Evaluator, real: RealStats, n: int, seed: int, device: Any, cfg: dict[str, Any]) -> Scorer:
    if n <= 0:
        raise MetricsError(f"n = {n}: score at least {evaluator.num_features + 1} images (10,000 is the usual)")
    _check_enough(n, evaluator.num_features, evaluator.name, "generated")
    _check_enough(real.count, evaluator.num_features, evaluator.name, "real")
    splits = min(int(cfg["is_splits"]), n)
    return Scorer(evaluator, real, seed=seed, is_splits=splits, kid_subsets=int(cfg["kid_subsets"]),
                  kid_subset_size=min(int(cfg["kid_subset_size"]), n, real.count), prdc_k=int(cfg["prdc_k"]),
                  prdc_samples=int(cfg["prdc_samples"]), device=device)


def balanced_labels(n: int, num_classes: int, seed: int) -> torch.Tensor:
    """``n`` class labels, each class ⌊n/K⌋ or ⌈n/K⌉ times, in a seeded random order."""
    labels = torch.arange(n) % num_classes
    return labels[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]


def prepare_scoring(dataset: "str | DataSpec | ImageData", *, evaluator: "str | Evaluator | None" = None,
                    zoo: Any = None, device: str | torch.device = "cpu", batch_size: int | None = None,
                    cache_dir: Any = None, progress: Any = None, evaluator_options: dict[str, Any] | None = None,
                    image_shape: tuple[int, ...] | None = None, num_classes: int | None = None,
                    domain: int | None = None) -> tuple[Evaluator, RealStats]:
    """The evaluator and the real statistics that scores of ``dataset`` use, with every check made before any
    sampling: the data set loads, the evaluator loads and reads these images, and (when given) a model's
    ``image_shape`` and ``num_classes`` match the data. ``domain`` (a translation model's target: 1, domain B)
    checks that the data holds the two domains (classes 0 and 1) and keeps that domain's images as the real side.
    ``ganzoo bench`` calls it before it trains."""
    data, what = _checked_data(dataset, image_shape, num_classes, domain)
    return _real_side(data, what, domain, evaluator, zoo, device, batch_size, cache_dir, progress, evaluator_options)


def _checked_data(dataset: Any, image_shape: tuple[int, ...] | None, num_classes: int | None,
                  domain: int | None) -> tuple[ImageData, str]:
    """The images of ``dataset`` and its one-line description, after the checks of a model against them."""
    data = load_real_data(dataset)
    what = dataset.describe() if isinstance(dataset, DataSpec) else data.name
    if image_shape is not None and tuple(image_shape) != data.image_shape:
        raise MetricsError(f"the model makes {'×'.join(map(str, image_shape))} images but data set {what} holds "
                           f"{'×'.join(map(str, data.image_shape))}; score it against the data it was trained on "
                           "(--dataset, --data-option, --data-root)")
    if domain is not None and data.num_classes != len(DOMAINS):
        raise MetricsError(
            f"a translation model is scored on its A→B translations of classes 0 (A) and 1 (B) of the data, but data "
            f"set {what} has {data.num_classes} class{'es' if data.num_classes != 1 else ''}; use data of exactly two "
            "classes, the domains it was trained on (--data-option classes=[3,8], --dataset mnist-ab, or an "
            "imagefolder with trainA/ and trainB/)")
    if num_classes is not None and int(num_classes) != data.num_classes:
        raise MetricsError(f"the model has {num_classes} classes but data set {what} has {data.num_classes}; score "
                           "it against the data it was trained on (--dataset, --data-option, --data-root)")
    return data, what


def _domain_label(data: ImageData, domain: int) -> str:
    """``domain B (class 1 '8')``: a domain of a translation model's data, with its class name when it has one."""
    names = data.class_names or []
    return f"domain {DOMAINS[domain]} (class {domain}" + (f" {names[domain]!r})" if len(names) > domain else ")")


def _real_side(data: ImageData, what: str, domain: int | None, evaluator: Any, zoo: Any, device: Any,
               batch_size: int | None, cache_dir: Any, progress: Any, options: dict[str, Any] | None
               ) -> tuple[Evaluator, RealStats]:
    """The evaluator and the real statistics of ``data`` (only ``domain``'s images when given)."""
    cfg = _settings(zoo)
    real_data = data
    if domain is not None:  # its own name: the cache key says which images (its fingerprint does too)
        real_data = dataclasses.replace(select_classes(data, [domain]), name=f"{data.name} domain {DOMAINS[domain]}")
    name = evaluator if evaluator is not None else dataset_evaluator(data.name, zoo)
    dev = resolve_device(device)
    ev = load_evaluator(name, **(options or {})).to(dev)
    ev.check_image_shape(data.image_shape)
    real = real_statistics(ev, real_data, n_real=int(cfg.get("n_real") or 0), batch_size=int(batch_size or
                           cfg["batch_size"]), device=dev, cache_dir=cache_dir, progress=progress)
    real.info["dataset"] = what if domain is None else f"{what}, {_domain_label(data, domain)}"
    return ev, real


def evaluate(model: Any, *, dataset: "str | DataSpec | ImageData" = "mnist-embedded",
             evaluator: "str | Evaluator | None" = None, n: int | None = None, seed: int = 0,
             batch_size: int | None = None, device: str = "cpu", cache_dir: Any = None, progress: Any = None,
             zoo: Any = None, evaluator_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score ``model``'s samples: fid, inception_score(_std), kid(_std), precision, recall, density, coverage,
    class_distribution, and for conditional models class_accuracy and intra_fid — plus the ``protocol`` they were
    measured with.

    A translation model (``model.translates``) is scored on its translations of the data's domain-A images (class 0;
    all of them, or a seeded random ``n`` when there are more) against the real domain-B images (class 1): the
    scores above of A→B, plus ``class_kept`` (the share of translations the evaluator gives its source's class) and
    ``fid_untranslated`` (the FID of the untranslated sources against real B: the baseline). The data must have
    exactly these two classes.

    ``dataset``: a registered name, a :class:`ganzoo.data.DataSpec` (name, loader options, folder) or the images.
    ``evaluator`` None → zoo.yaml ``datasets.<dataset>.evaluator``; ``n`` None → zoo.yaml ``metrics.n_eval``.
    ``evaluator_options`` go to a registered evaluator's factory (e.g. ``{"weights": path}`` for one that reads
    a weights file).
    The model samples on its own device (left where it is, its train/eval mode and the global RNG restored);
    the evaluator runs on ``device``. Real statistics are cached under ``cache_dir`` (default ``<cache>/real-stats``).
    """
    dev = resolve_device(device)
    model_device = getattr(model, "device", torch.device("cpu"))
    cuda = sorted({d.index or 0 for d in (dev, model_device) if d.type == "cuda"})
    with torch.random.fork_rng(devices=cuda):  # building evaluators and sampling never move the caller's RNG
        return _evaluate(model, dataset, evaluator, n, seed, batch_size, dev, cache_dir, progress, zoo,
                         evaluator_options or {})


def _evaluate(model: Any, dataset: Any, evaluator: Any, n: int | None, seed: int, batch_size: int | None,
              dev: torch.device, cache_dir: Any, progress: Any, zoo: Any, options: dict[str, Any]
              ) -> dict[str, Any]:
    cfg = _settings(zoo)
    n = int(cfg["n_eval"] if n is None else n)
    bs = int(batch_size or cfg["batch_size"])
    translates = bool(getattr(model, "translates", False))
    conditional = bool(getattr(model, "conditional", False)) and not translates
    domain = 1 if translates else None
    data, what = _checked_data(dataset, tuple(int(s) for s in model.image_shape),
                               int(model.num_classes) if conditional else None, domain)
    ev, real = _real_side(data, what, domain, evaluator, zoo, dev, bs, cache_dir, progress, options)
    if translates:
        scores = _score_translations(model, data, ev, real, n, seed, bs, dev, progress, cfg)
    else:
        scorer = _scorer(ev, real, n, seed, dev, cfg)
        labels = balanced_labels(n, int(model.num_classes), seed) if conditional else None
        model_device = getattr(model, "device", torch.device("cpu"))
        gen = torch.Generator(device=model_device).manual_seed(seed)

        def batch(i: int, b: int) -> tuple[torch.Tensor, torch.Tensor | None, None]:
            lab = labels[i:i + b].to(model_device) if labels is not None else None
            return checked_sample(model, b, lab, gen), lab, None

        _fill(model, scorer, n, bs, seed, dev, progress, f"scoring {n} samples", batch)
        scores = scorer.compute()
        scores["protocol"] = _protocol(ev, real, scorer, n, "balanced: each class n/K times, seeded order"
                                       if conditional else "none (unconditional model)")
    scores["protocol"]["generator"] = generator_weights(model)
    scores["real_stats_cached"] = real.cache_hit
    return scores


def _fill(model: Any, scorer: Scorer, n: int, bs: int, seed: int, dev: torch.device, progress: Any,
          description: str, batch: Callable[[int, int], tuple[torch.Tensor, Any, Any]]) -> None:
    """Feed ``scorer`` ``n`` images, ``batch(start, size)`` → (images in [-1, 1], labels, source classes) at a
    time, with the model in eval mode under ``seed`` (its mode restored after)."""
    model_device = getattr(model, "device", torch.device("cpu"))
    was_training = model.training
    task = progress.add_task(description, total=n) if progress is not None else None
    model.eval()
    try:
        with _seeded(seed, model_device), torch.no_grad():
            for i in range(0, n, bs):
                b = min(bs, n - i)
                fake, labels, sources = batch(i, b)
                _check_finite(fake)
                scorer.update(to_uint8(fake).to(dev), labels, sources)
                if task is not None:
                    progress.advance(task, b)
    finally:
        model.train(was_training)
        if task is not None:
            progress.remove_task(task)


def _score_translations(model: Any, data: ImageData, ev: Evaluator, real: RealStats, n: int, seed: int, bs: int,
                        dev: torch.device, progress: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """A translation model's scores: its A→B translations of ``n`` (at most) domain-A images against ``real`` (B),
    the share that keeps its source's evaluator class, and the FID of the untranslated sources (the baseline)."""
    picks = domain_picks(data, 0, n, seed)
    count, total = len(picks), int((data.labels == 0).sum())
    scorer = _scorer(ev, real, count, seed, dev, cfg)
    source_features: list[torch.Tensor] = []

    def batch(i: int, b: int) -> tuple[torch.Tensor, None, torch.Tensor]:
        sources = data.images[picks[i:i + b]]
        features, logits = extract(ev, sources, batch_size=b, device=dev)
        source_features.append(features)
        return translate_images(model, to_unit_range(sources), 0, b), None, logits.argmax(1)

    _fill(model, scorer, count, bs, seed, dev, progress, f"scoring {count} translations A→B", batch)
    scores = scorer.compute()
    scores["fid_untranslated"] = scorer.fid_of(torch.cat(source_features), "untranslated source")
    protocol = _protocol(ev, real, scorer, count, "none: each image is a real domain-A image translated to B")
    protocol.update(
        translation=f"A→B: {count} source images of {_domain_label(data, 0)} translated, against {real.count} "
                    f"real images of {_domain_label(data, 1)}",
        sources=(f"all {total} images of domain A" if count == total
                 else f"random {count} of {total} images of domain A (seed {seed})"),
        class_kept=CLASS_KEPT + f" (evaluator {ev.name})",
        fid_untranslated="FID of the same source images, untranslated, against the same real B statistics: the "
                         "baseline a translation must beat",
        direction="A→B only (B→A is not scored)")
    scores["protocol"] = protocol
    return scores


def generator_weights(model: Any) -> str:
    """Which weights sampled: the generator's moving average (with its half-life) or the trained weights."""
    ema = getattr(model, "ema", None)
    if getattr(model, "weights_source", None) == "moving average":
        return "moving average (stored as the weights by a compact export)"
    if ema is None or not getattr(model, "use_ema", True) or ema.updates == 0:
        return "trained weights"
    decay = ema.decay
    return f"moving average (decay {decay:.5g}, half-life {math.log(0.5) / math.log(decay):.0f} steps)"


def _check_finite(fake: torch.Tensor) -> None:
    if not torch.isfinite(fake).all():
        raise MetricsError("the model generated images with NaN or infinite pixels (training diverged); retrain "
                           "it or score an earlier checkpoint")
