"""Image-to-image models: the base class of a model that maps images between two domains instead of sampling.

A translation model trains on a labelled data set of two classes: class 0 is domain A, class 1 domain B (an
``imagefolder`` with ``trainA/`` and ``trainB/``, ``mnist-ab``, a CelebA attribute, or any two classes picked with
``--data-option classes=[3,8]``). The harness trains it like any model; what differs is how it is used and scored:
grids show rows A, A→B, A→B→A, B, B→A, B→A→B (:func:`ganzoo.sampling.translation_rows`), ``ganzoo translate`` maps
a folder or ``.npz`` of images, and ``ganzoo eval``/``bench`` score A→B against real B images (FID, KID, IS,
precision/recall) and how often the evaluator gives a translated image the class it gives its source.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch

from ganzoo.data import DataSpec, ImageData, to_unit_range
from ganzoo.errors import ConfigError, DataError
from ganzoo.guard import checked_translate
from ganzoo.model import Batch, GenerativeModel

__all__ = ["DOMAINS", "TranslationModel", "domain_index", "domain_label", "domain_picks", "domain_sources",
           "recorded_sources", "source_data", "translate_images"]

#: The two domains' names: ``A`` is class 0 of the data, ``B`` class 1.
DOMAINS = ("A", "B")


class TranslationModel(GenerativeModel):
    """Base class of a model mapping images of domain A (class 0 of its data) to domain B (class 1) and back.

    A subclass builds its networks and ``self.optimizers`` in ``__init__`` after calling this one, implements
    :meth:`train_step` (each batch mixes both domains: :meth:`split_domains`) and :meth:`translate`, and lists its
    translating networks in ``sample_networks`` (their moving average, when switched on, translates). It does not
    sample from noise: :meth:`sample` raises a ConfigError saying to translate instead.
    """

    translates: ClassVar[bool] = True

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 2) -> None:
        """As :class:`ganzoo.GenerativeModel`; a ConfigError unless the data has exactly two classes (the domains)."""
        super().__init__(hparams, image_shape, num_classes)
        if self.num_classes != 2:
            raise ConfigError(
                f"model {self.name!r} translates between two domains, classes 0 (A) and 1 (B) of its data, but the "
                f"data has {self.num_classes} class{'es' if self.num_classes != 1 else ''}; give a data set of two "
                "classes (--dataset mnist-ab, or an imagefolder with trainA/ and trainB/) or pick two with "
                "--data-option classes=[3,8]")

    @staticmethod
    def split_domains(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's images of domain A (label 0) and of domain B (label 1); either may be empty."""
        return batch.images[batch.labels == 0], batch.images[batch.labels == 1]

    def sample(self, n: int, labels: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Not available: a translation model maps images (:meth:`translate`); it has no noise to sample from."""
        raise ConfigError(f"model {self.name!r} translates images between two domains and does not sample from "
                          "noise; use model.translate(images, source_domain) or 'ganzoo translate RUN --input DIR "
                          "--to B --out DIR'")


def domain_index(name: Any, class_names: list[str] | None = None) -> int:
    """The domain ``name`` means: ``A``/``B`` (any case), 0/1, or the data set's name of class 0/1; else a
    ConfigError."""
    text = str(name).strip()
    if text.upper() in DOMAINS:
        return DOMAINS.index(text.upper())
    if text in ("0", "1"):
        return int(text)
    names = list(class_names or [])[:2]
    if text in names:
        return names.index(text)
    known = ", ".join(["A", "B", *(f"{n!r}" for n in names if str(n).upper() not in DOMAINS)])
    raise ConfigError(f"domain {text!r} does not exist; a translation model has two: {known}")


def domain_label(index: int, class_names: list[str] | None = None) -> str:
    """Domain ``index`` (0/1) as messages show it: ``A``, or ``A ('3')`` when the data set named its class."""
    names = list(class_names or [])
    letter = DOMAINS[index]
    return f"{letter} ({names[index]!r})" if len(names) == 2 and names[index] != letter else letter


def source_data(spec: DataSpec, model: Any) -> ImageData:
    """The images of ``spec`` as ``model``'s translation sources (a grid's rows); a DataError unless they have two
    classes (the domains) of the model's image shape."""
    data = spec.load()
    shape = "×".join(map(str, model.image_shape))
    if data.num_classes != 2 or tuple(data.image_shape) != tuple(model.image_shape):
        got = "×".join(map(str, data.image_shape))
        raise DataError(f"data {spec.describe()} has {data.num_classes} classes of {got} images; model "
                        f"{model.name!r} translates {shape} images between two domains: pass the data it was "
                        "trained on (--dataset, --data-root, --data-option, e.g. classes=[3,8])")
    return data


def recorded_sources(model: Any, config: Mapping[str, Any] | None) -> ImageData | None:
    """The source images of a translation model's grid: the data its run ``config`` records (:func:`source_data`);
    None for a model that does not translate (its grid needs no data)."""
    if not getattr(model, "translates", False):
        return None
    return source_data(DataSpec.from_record(dict(config or {})), model)


def domain_picks(data: ImageData, domain: int, count: int, seed: int = 0) -> torch.Tensor:
    """The indices (ascending) into ``data`` of ``count`` images of ``domain`` (class 0: A, 1: B), a seeded random
    choice (all of them when the domain has ``count`` or fewer)."""
    index = torch.nonzero(data.labels == domain).reshape(-1)
    if len(index) == 0:
        raise DataError(f"data set {data.name!r} has no images of domain {'AB'[domain]} (class {domain}); a "
                        "translation model needs images of both domains")
    return index[torch.randperm(len(index), generator=torch.Generator().manual_seed(int(seed)))[:count]].sort().values


def domain_sources(data: ImageData, domain: int, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` images of ``domain`` (class 0: A, 1: B) of ``data`` as [-1, 1] floats, a seeded random choice
    (fewer when the domain has fewer; :func:`domain_picks`)."""
    return to_unit_range(data.images[domain_picks(data, domain, count, seed)])


def translate_images(model: Any, images: torch.Tensor, source_domain: int, batch_size: int = 500) -> torch.Tensor:
    """``images`` ([-1, 1], any device) translated from ``source_domain`` by ``model``, in batches, on the CPU."""
    out = [checked_translate(model, images[i:i + batch_size].to(model.device), source_domain).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.empty(0, *model.image_shape)
