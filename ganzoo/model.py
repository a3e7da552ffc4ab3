"""The model contract: the one base class that the training harness drives for every model."""
from __future__ import annotations

import contextlib
import functools
import numbers
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FunctionType, SimpleNamespace
from typing import Any, Callable, ClassVar, Mapping, NamedTuple

import torch
from torch import nn

from torch.nn.parallel import DistributedDataParallel

from ganzoo.ema import WeightAverage, ema_decay
from ganzoo.errors import ConfigError

__all__ = ["BOOKKEEPING", "EMA_CHOICES", "EMA_DEFAULTS", "MAX_CHANNELS", "MAX_CLASSES", "MAX_SIDE", "Batch",
           "GenerativeModel", "Range", "check_data_shape", "check_translation_input", "class_summary", "own_hparams"]


class Batch(NamedTuple):
    """One training batch: images scaled to [-1, 1] (N, C, H, W) and integer class labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor


@dataclass(frozen=True)
class Range:
    """An allowed numeric interval for a hyperparameter (inclusive bounds unless ``high_open``; None: unbounded)."""

    low: float | None = None
    high: float | None = None
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return (self.low is None or value >= self.low) and below

    def __str__(self) -> str:
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"a number in [{lo}, {hi}{')' if self.high_open else ']'}"


#: The data a model may be built for (``create_model``, and the config of every checkpoint read): images of
#: 1..MAX_CHANNELS channels whose height and width are 1..MAX_SIDE pixels, and 1..MAX_CLASSES classes.
MAX_CHANNELS = 4
MAX_SIDE = 1024
MAX_CLASSES = 10_000


def check_data_shape(image_shape: Any, num_classes: Any) -> tuple[tuple[int, int, int], int]:
    """``(image_shape, num_classes)`` as three ints and an int within the bounds above; else a ConfigError naming it."""
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 3 or not all(map(_is_int, image_shape)):
        raise ConfigError(f"image_shape {image_shape!r}: must be 3 integers (channels, height, width), "
                          "e.g. (1, 28, 28)")
    c, h, w = (int(s) for s in image_shape)
    if not (1 <= c <= MAX_CHANNELS and 1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ConfigError(f"image_shape {(c, h, w)}: channels must be 1 to {MAX_CHANNELS} and height and width 1 to "
                          f"{MAX_SIDE} pixels")
    if not _is_int(num_classes) or not 1 <= num_classes <= MAX_CLASSES:
        raise ConfigError(f"num_classes {num_classes!r}: must be an integer from 1 to {MAX_CLASSES}")
    return (c, h, w), int(num_classes)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


#: Sub-modules that are not networks (no trained weights): the generator's average, the regularisers' state and a
#: translation model's image pools (:class:`ganzoo.nn.ImagePool`).
BOOKKEEPING = ("ema", "regularizers", "image_pools")

#: The generator average's hyperparameters; a model that lists its generator in ``sample_networks`` adds them to its
#: ``defaults`` and ``choices`` to let users switch it on (the GANs and the VAE do).
EMA_DEFAULTS: dict[str, Any] = {"ema_decay": 0.0, "ema_half_life": 0.0, "ema_start": 0}
EMA_CHOICES: dict[str, Any] = {"ema_decay": Range(0, 1, high_open=True), "ema_half_life": Range(0, 1e9),
                               "ema_start": Range(0, 1e12)}


class GenerativeModel(nn.Module):
    """Base class of every ganzoo model: built from hyperparameters and the data's shape, trained by ``train_step``.

    A subclass sets the class attributes below, builds its networks and ``self.optimizers`` in ``__init__``,
    and implements :meth:`train_step` and :meth:`sample`. The harness does everything else (device, seeding,
    mixed precision, distribution, checkpoints, logging).
    """

    #: Registry name (lower case), e.g. ``"dcgan"``.
    name: ClassVar[str] = ""
    #: Model family: ``"gan"`` or ``"vae"`` (free text for third parties).
    family: ClassVar[str] = "gan"
    #: True when the model is conditioned on class labels.
    conditional: ClassVar[bool] = False
    #: One-line description shown by ``ganzoo list``.
    description: ClassVar[str] = ""
    #: Default hyperparameters; zoo.yaml and ``--set`` may override only these keys, with the same types.
    defaults: ClassVar[dict[str, Any]] = {}
    #: Allowed values: key -> tuple of choices or :class:`Range`.
    choices: ClassVar[dict[str, Any]] = {}
    #: The networks :meth:`sample` uses (e.g. ``("G",)``): with ``ema_decay`` or ``ema_half_life`` set, the harness
    #: keeps their moving average and sampling, scoring and grids use it (see :meth:`sampling_weights`).
    sample_networks: ClassVar[tuple[str, ...]] = ()
    #: True for an image-to-image model: it maps images of one domain to another (:meth:`translate`) instead of
    #: sampling from noise. Its data has two classes, domain A (class 0) and domain B (class 1); see
    #: :class:`ganzoo.translation.TranslationModel`.
    translates: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass's own :meth:`sample` and :meth:`translate` get ganzoo's checks of their inputs in front."""
        super().__init_subclass__(**kwargs)
        own = cls.sample  # its own, or a mixin's that precedes this class
        if isinstance(own, FunctionType) and own is not GenerativeModel.sample and not hasattr(own, "_ganzoo_checked"):
            cls.sample = _checked_sample(own)
        own = cls.translate
        if (isinstance(own, FunctionType) and own is not GenerativeModel.translate
                and not hasattr(own, "_ganzoo_checked")):
            cls.translate = _checked_translate(own)

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        """Take the hyperparameters and the data's shape; a subclass calls this first, then builds its networks.

        :param hparams: values over the class's ``defaults`` (None: the defaults alone), kept as ``self.hp``, a
            namespace (``self.hp.lr``). They are not checked here: ``ganzoo.create_model``, zoo.yaml and ``--set``
            check them against ``defaults`` and ``choices`` first.
        :param image_shape: the images' ``(C, H, W)``, e.g. ``(3, 32, 32)``; derive every size from it.
        :param num_classes: how many classes the labels have (labels run from 0 to ``num_classes - 1``).

        It sets ``hp``, ``image_shape``, ``num_classes``, an empty ``optimizers`` dict (put every optimizer in it),
        ``scalers``, ``ema`` (None) and ``use_ema``. ganzoo builds models as ``cls(hparams, image_shape=...,
        num_classes=...)``: keep these parameter names. A ConfigError when both ``ema_decay`` and ``ema_half_life``
        are set.
        """
        super().__init__()
        self.hp = SimpleNamespace(**{**self.defaults, **dict(hparams or {})})
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_classes = int(num_classes)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        #: Gradient scalers by optimizer name, set by the harness for fp16 training on CUDA.
        self.scalers: dict[str, Any] = {}
        #: The moving average of :attr:`sample_networks`, from the first averaged step on (None before, or when off).
        self.ema: WeightAverage | None = None
        #: False samples from the trained weights even when an average exists (``ganzoo sample --raw``).
        self.use_ema = True
        #: "moving average" when the weights themselves are an average (a compact export); None otherwise.
        self.weights_source: str | None = None
        _ = self.ema_decay  # both ema_decay and ema_half_life set: a ConfigError now, not at the first average

    # -- the contract ---------------------------------------------------------------------------------
    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor | float]:
        """Run one optimisation step on ``batch`` and return named scalar losses."""
        raise NotImplementedError

    def sample(self, n: int, labels: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Generate ``n`` images in [-1, 1] of shape ``(n, *image_shape)``; ``labels`` for conditional models."""
        raise NotImplementedError

    def decode_latents(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1] for latent codes ``z`` ``(n, latent_dim)`` in eval mode without gradients (optional:
        ``ganzoo sample --latent-grid`` and ``--interpolate`` need it, and ``latent_dim`` among the hyperparameters)."""
        raise NotImplementedError

    def translate(self, images: torch.Tensor, source_domain: int) -> torch.Tensor:
        """Translation models (:attr:`translates`): images in [-1, 1] ``(N, *image_shape)`` of domain
        ``source_domain`` (0: A, 1: B) → the same images in the other domain, in eval mode without gradients."""
        raise NotImplementedError

    # -- helpers shared by every model -------------------------------------------------------------
    @classmethod
    def pretrained_dir(cls) -> Path | None:
        """The trained weights the model's plugin ships: an export folder ``pretrained/NAME/`` beside the class's
        module (written by ``ganzoo export``), or None."""
        module = sys.modules.get(cls.__module__)
        file = getattr(module, "__file__", None)
        folder = Path(file).parent / "pretrained" / str(cls.name) if file and cls.name else None
        return folder if folder is not None and (folder / "config.json").is_file() else None

    @classmethod
    def summary(cls) -> str:
        """The one-line description (``description`` or the docstring's first line)."""
        return class_summary(cls)

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters."""
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def noise(self, n: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard normal noise ``(n, dim)`` on the model's device, drawn from ``generator`` when given."""
        if generator is not None and generator.device != self.device:
            return torch.randn(n, dim, generator=generator, device=generator.device).to(self.device)
        return torch.randn(n, dim, generator=generator, device=self.device)

    def sample_labels(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniformly random class labels ``(n,)`` on the model's device."""
        dev = generator.device if generator is not None else self.device
        return torch.randint(0, self.num_classes, (n,), generator=generator, device=dev).to(self.device)

    def check_labels(self, n: int, labels: torch.Tensor | int | None,
                     generator: torch.Generator | None = None) -> torch.Tensor | None:
        """Validate/expand ``labels`` for :meth:`sample`: None draws random ones for conditional models."""
        if not self.conditional:
            return None
        if labels is None:
            return self.sample_labels(n, generator)
        labels = torch.as_tensor(labels, device=self.device).long().reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n:
            raise ConfigError(f"got {labels.numel()} labels for {n} samples; give one label or one per sample")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ConfigError(f"labels must be in [0, {self.num_classes - 1}] "
                              f"(the model has {self.num_classes} classes)")
        return labels

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Zero the grads of optimizer ``name``, backpropagate ``loss`` and step (through its scaler if any)."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        scaler = self.scalers.get(name)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    # -- the generator's moving average ---------------------------------------------------------------
    @property
    def ema_decay(self) -> float:
        """The average's per-step decay from the ``ema_decay``/``ema_half_life`` hyperparameters; 0 when off."""
        if not self.sample_networks:
            return 0.0
        return ema_decay(getattr(self.hp, "ema_decay", 0.0), getattr(self.hp, "ema_half_life", 0.0))

    def update_ema(self, steps_done: int) -> None:
        """After a training step: fold the sample networks into their average (from step ``ema_start`` on)."""
        decay = self.ema_decay
        if decay <= 0 or steps_done < getattr(self.hp, "ema_start", 0):
            return
        if self.ema is None:
            self.ema = WeightAverage(self._sample_nets(), decay)
        self.ema.fold_in(self._sample_nets())

    def sampling_weights(self) -> contextlib.AbstractContextManager[None]:
        """A context in which the sample networks are their average (when there is one and :attr:`use_ema`)."""
        if self.ema is None or not self.use_ema:  # an average exists from its first update on
            return contextlib.nullcontext()
        return self.ema.swapped_into(self)

    def _sample_nets(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in self.sample_networks}

    def networks(self) -> dict[str, nn.Module]:
        """The model's networks (its direct sub-modules but the :data:`BOOKKEEPING` ones), by attribute name."""
        return {k: m for k, m in self.named_children() if k not in BOOKKEEPING}

    def wrap_networks(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Replace each network by ``wrap(network)`` (the harness uses it for DistributedDataParallel)."""
        for attr, net in list(self.named_children()):
            if any(p.requires_grad for p in net.parameters()):
                setattr(self, attr, wrap(net))

    def unwrapped_state_dict(self) -> dict[str, torch.Tensor]:
        """The networks' weights (and their average's) without DistributedDataParallel's ``module.`` prefixes."""
        return {self._unwrapped_key(k): v for k, v in self.state_dict().items()}

    def _unwrapped_key(self, key: str) -> str:
        attr, _, rest = key.partition(".")
        wrapped = isinstance(self._modules.get(attr), DistributedDataParallel)
        return f"{attr}.{rest.removeprefix('module.')}" if wrapped else key

    def training_state(self) -> dict[str, Any]:
        """Everything needed to resume: weights, optimizer and scaler states."""
        return {
            "networks": self.unwrapped_state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
        }

    def load_training_state(self, state: Mapping[str, Any], weights_only: bool = False) -> None:
        """Restore :meth:`training_state` (just the weights when ``weights_only``)."""
        weights = dict(state["networks"])
        if self.ema is None and any(k.startswith("ema.") for k in weights):  # saved after averaging began
            self.ema = WeightAverage(self._sample_nets(), self.ema_decay or 0.999)
        remap = {self._unwrapped_key(k): k for k in self.state_dict()}  # wrapped in DDP: add the prefixes back
        self.load_state_dict({remap.get(k, k): v for k, v in weights.items()})
        if weights_only:
            return
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.scalers.items():
            if k in state.get("scalers", {}):
                s.load_state_dict(state["scalers"][k])

    def parameter_counts(self) -> dict[str, int]:
        """Number of parameters of each network (the average not counted)."""
        return {k: sum(p.numel() for p in m.parameters()) for k, m in self.networks().items()}


def _checked_sample(sample: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``sample`` behind the checks of its inputs: ``n`` a non-negative integer (0: an empty batch, without calling
    the plugin); for a conditional model, ``labels`` None, one class index or one per sample, each in range."""

    @functools.wraps(sample)
    def checked(self: GenerativeModel, n: Any, labels: Any = None, *args: Any, **kwargs: Any) -> torch.Tensor:
        if not _is_int(n) or n < 0:
            raise ConfigError(f"sample(n={n!r}): n, the number of images, must be an integer of at least 0")
        if self.conditional and labels is not None:
            _check_sample_labels(self, int(n), labels)
        if n == 0:
            return torch.empty(0, *self.image_shape, device=self.device)
        return sample(self, int(n), labels, *args, **kwargs)

    checked._ganzoo_checked = True  # type: ignore[attr-defined]
    return checked


def _checked_translate(translate: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``translate`` behind the checks of its inputs: a model that translates, a floating tensor of the model's image
    shape with finite pixels, a source domain 0 (A) or 1 (B); an empty batch returns empty without the plugin."""

    @functools.wraps(translate)
    def checked(self: GenerativeModel, images: Any, source_domain: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        check_translation_input(self, images, source_domain)
        if images.shape[0] == 0:
            return torch.empty(0, *self.image_shape, device=self.device)
        return translate(self, images, int(source_domain), *args, **kwargs)

    checked._ganzoo_checked = True  # type: ignore[attr-defined]
    return checked


def check_translation_input(model: GenerativeModel, images: Any, source_domain: Any) -> None:
    """Raise a ConfigError unless ``model`` translates and ``images`` ``(N, *image_shape)`` (floating, finite) and
    ``source_domain`` (0 or 1) are what :meth:`GenerativeModel.translate` takes."""
    if not model.translates:
        raise ConfigError(f"model {model.name!r} is not a translation model: it samples from noise; use sample(n), "
                          "or a model that translates (ganzoo list: cyclegan)")
    if not _is_int(source_domain) or int(source_domain) not in (0, 1):
        raise ConfigError(f"translate(images, source_domain={source_domain!r}): the source domain must be 0 (A) or "
                          "1 (B)")
    shape = tuple(model.image_shape)
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        got = f"a {images.dtype} tensor".replace("torch.", "") if isinstance(images, torch.Tensor) \
            else f"a {type(images).__name__}"
        raise ConfigError(f"translate(images, ...): images must be a floating tensor in [-1, 1], got {got}")
    if images.dim() != 4 or tuple(images.shape[1:]) != shape:
        raise ConfigError(f"translate(images, ...): the model translates {'×'.join(map(str, shape))} images "
                          f"(N, C, H, W), got shape {tuple(images.shape)}; resize them to the size it was trained on")
    if not bool(torch.isfinite(images).all()):
        raise ConfigError("translate(images, ...): the images hold NaN or infinite pixels")


def _check_sample_labels(model: GenerativeModel, n: int, labels: Any) -> None:
    try:
        t = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        t = None
    if t is None or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        got = f"a {t.dtype} tensor".replace("torch.", "") if t is not None else f"a {type(labels).__name__}"
        raise ConfigError(f"sample({n}): labels must be integer class indices (an int, a list or an integer tensor), "
                          f"got {got}")
    if t.numel() not in (1, n):
        raise ConfigError(f"sample({n}): got {t.numel()} labels for {n} samples; give one label or one per sample")
    if t.numel() and bool(((t < 0) | (t >= model.num_classes)).any()):
        raise ConfigError(f"sample({n}): labels must be in [0, {model.num_classes - 1}] "
                          f"(the model has {model.num_classes} classes)")


def own_hparams(kind: str, name: str, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> SimpleNamespace:
    """A component's hyperparameters (``defaults`` updated by ``given``); a key it does not have is a ConfigError."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(defaults) or "none"
        raise ConfigError(f"{kind} {name!r} has no hyperparameter {unknown[0]!r}; its hyperparameters: {known}")
    return SimpleNamespace(**{**defaults, **given})


def class_summary(cls: type) -> str:
    """A registered class's one-line description: its ``description``, else its docstring's first line."""
    if getattr(cls, "description", ""):
        return cls.description
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""
