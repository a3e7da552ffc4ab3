"""Conformance checks for ganzoo models, for a plugin author's own tests (and ganzoo's)::

    from ganzoo.testing import check_model

    def test_conforms():
        check_model("lsgan", image_shapes=[(1, 28, 28), (3, 32, 32)], hparams={"width": 16})

:func:`check_model` builds the model on the CPU and checks the contract the training harness relies on: the class
attributes, ``sample`` (shape, value range, no gradient history), ``train_step`` (a dict of finite, detached
scalars; every trained network changes), a save/restore round trip through ``torch.load(weights_only=True)``,
determinism under a seed, and, for conditional models, that the labels change the samples. For a translation model
(``translates``), ``translate`` takes ``sample``'s place: random source images of each domain, mapped. A failure raises
:class:`ConformanceError` (an ``AssertionError``, so pytest reports it) naming the model, the image shape, the
check and the fix.

:func:`make_distribution` writes a fake installed distribution (a ``*.dist-info`` folder with entry points) so
that a test can check plugin discovery without ``pip install``.
"""
from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ganzoo import model_class
from ganzoo.config import Zoo, _check
from ganzoo.fake_dist import make_distribution
from ganzoo.guard import LossError, loss_tensors
from ganzoo.model import Batch, GenerativeModel
from ganzoo.registry import Registered, model_class_problem, valid_name

__all__ = [
    "CHECKS", "ConformanceError", "Report", "assert_same_state", "check_model", "make_distribution", "tiny_batch",
]

#: The checks :func:`check_model` runs, in order; pass names in ``skip`` to leave some out.
CHECKS = ("contract", "sample", "train_step", "determinism", "save_restore", "labels")
#: How far outside [-1, 1] a sample may lie (float rounding of tanh).
RANGE_TOLERANCE = 1e-5


class ConformanceError(AssertionError):
    """A model breaks the ganzoo model contract; the message names the model, image shape, check and fix."""

    def __init__(self, model: str, shape: tuple[int, ...] | None, check: str, message: str) -> None:
        where = f" at image shape {shape}" if shape is not None else ""
        super().__init__(f"model {model!r}{where} fails check {check!r}: {message}")
        self.model, self.shape, self.check = model, shape, check


@dataclass
class Report:
    """What :func:`check_model` checked: the checks passed per image shape and the losses of the last step."""

    model: str
    passed: dict[tuple[int, int, int], list[str]] = field(default_factory=dict)
    losses: dict[tuple[int, int, int], dict[str, float]] = field(default_factory=dict)


def tiny_batch(image_shape: Sequence[int], n: int = 4, num_classes: int = 10, seed: int = 0) -> Batch:
    """A random :class:`ganzoo.model.Batch` of ``n`` images in [-1, 1] with labels in [0, num_classes)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n, *image_shape, generator=gen) * 2 - 1
    labels = torch.randint(0, max(1, num_classes), (n,), generator=gen)
    return Batch(images, labels)


def check_model(model: str | type[GenerativeModel], image_shapes: Iterable[Sequence[int]] = ((1, 28, 28),), *,
                hparams: Mapping[str, Any] | None = None, num_classes: int | None = None, batch_size: int = 4,
                train_steps: int = 2, seed: int = 0, skip: Iterable[str] = (),
                untrained: Iterable[str] = ()) -> Report:
    """Check that a model (registered name or class) meets the ganzoo model contract; raise ConformanceError if not.

    :param model: a registered model name (``"dcgan"``) or a :class:`ganzoo.GenerativeModel` subclass.
    :param image_shapes: the (C, H, W) shapes to build the model for; keep them small.
    :param hparams: hyperparameter overrides on top of the class's ``defaults`` (make the model tiny); validated
        like zoo.yaml (:class:`ganzoo.ConfigError` for an unknown key or a bad value).
    :param num_classes: classes of the fake data (conditional models); None: 2 for a translation model (its two
        domains, the batch alternating between them), else 10.
    :param batch_size: images per training batch and per sample call.
    :param train_steps: ``train_step`` calls (steps 0, 1, ...) before checking that the weights changed.
    :param seed: the seed of the data, the weights and the samples.
    :param skip: names from :data:`CHECKS` to leave out.
    :param untrained: networks (attribute names) that ``train_step`` is not meant to change.
    """
    cls = _resolve(model)
    if num_classes is None:
        num_classes = 2 if cls.translates else 10
    label = getattr(cls, "name", "") or cls.__name__
    skip = set(skip)
    unknown = sorted(skip - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check(s) {unknown} in skip; the checks are {', '.join(CHECKS)}")
    checks = [c for c in CHECKS if c not in skip]
    shapes = [tuple(int(s) for s in shape) for shape in image_shapes]
    if not shapes or any(len(s) != 3 or min(s) < 1 for s in shapes):
        raise ValueError(f"image_shapes must be (C, H, W) tuples of positive sizes, got {shapes}")
    report = Report(label)
    if "contract" in checks:
        _check_class(cls, label)
    if hparams:  # the same validation zoo.yaml and --set get: a ConfigError naming the key
        _check(dict(hparams), cls.defaults, f"models.{label}", Zoo({}, "check_model(hparams=...)"), cls.choices,
               prefix="")
    hp = {**dict(cls.defaults), **dict(hparams or {})}
    for shape in shapes:
        run = _Run(cls, label, hp, shape, num_classes, batch_size, train_steps, seed, set(untrained))
        passed = report.passed.setdefault(shape, [])
        for check in checks:
            if check == "labels" and not cls.conditional:
                continue
            getattr(run, f"check_{check}")()
            passed.append(check)
        if run.losses:
            report.losses[shape] = run.losses
    return report


def _resolve(model: str | type[GenerativeModel]) -> type[GenerativeModel]:
    if isinstance(model, str):
        return model_class(model)
    if isinstance(model, type) and issubclass(model, GenerativeModel):
        return model
    raise TypeError(f"check_model() expects a registered model name or a GenerativeModel subclass, got {model!r}")


def _check_class(cls: type[GenerativeModel], label: str) -> None:
    def fail(message: str) -> None:
        raise ConformanceError(label, None, "contract", message)

    if not valid_name(cls.name):
        fail(f"class attribute name={cls.name!r} must be a lower-case name such as 'mygan' "
             "(letters, digits, '-', '_', '.')")
    if not isinstance(cls.family, str) or not cls.family:
        fail(f"class attribute family={cls.family!r} must be a non-empty string such as 'gan' or 'vae'")
    if not isinstance(cls.conditional, bool):
        fail(f"class attribute conditional={cls.conditional!r} must be True or False")
    problem = model_class_problem(cls)  # the registry's own rule: plain defaults their own choices allow
    if problem:
        fail(problem)
    for key, allowed in cls.choices.items():  # names of registered things: checkable now that plugins are loaded
        value = cls.defaults[key]
        if isinstance(allowed, Registered) and not all(v in allowed for v in (value if isinstance(value, list)
                                                                               else [value])):
            fail(f"the default {key}={cls.defaults[key]!r} is not allowed by its own choices ({allowed})")
    if not cls.summary():
        fail("set the class attribute description (or a docstring): 'ganzoo list' shows it")


class _Run:
    """The checks of one model at one image shape (each method raises ConformanceError)."""

    def __init__(self, cls: type[GenerativeModel], label: str, hp: dict[str, Any], shape: tuple[int, int, int],
                 num_classes: int, batch_size: int, train_steps: int, seed: int, untrained: set[str]) -> None:
        self.cls, self.label, self.hp, self.shape = cls, label, hp, shape
        self.num_classes, self.n, self.train_steps, self.seed = num_classes, batch_size, max(1, train_steps), seed
        self.untrained = untrained
        self.batch = tiny_batch(shape, batch_size, num_classes, seed)
        if cls.translates:  # both domains in every batch, as a real two-class data set gives
            self.batch = Batch(self.batch.images, torch.arange(batch_size) % 2)
        #: What makes images: ``sample()``, or for a translation model ``translate()`` of random source images.
        self.call = "translate(images, source_domain)" if cls.translates else "sample()"
        self.losses: dict[str, float] = {}
        self.model = self.build(seed)

    def fail(self, check: str, message: str) -> None:
        raise ConformanceError(self.label, self.shape, check, message)

    def build(self, seed: int) -> GenerativeModel:
        torch.manual_seed(seed)
        try:
            model = self.cls(dict(self.hp), image_shape=self.shape, num_classes=self.num_classes)
        except Exception as exc:
            raise ConformanceError(self.label, self.shape, "build",
                                   f"{self.cls.__name__}(hparams, image_shape={self.shape}, "
                                   f"num_classes={self.num_classes}) raised {type(exc).__name__}: {exc}. "
                                   "Derive every size from image_shape instead of constants") from exc
        if not isinstance(model, GenerativeModel):
            self.fail("build", f"{self.cls.__name__}(...) is not a ganzoo.GenerativeModel")
        return model.train()

    def sample(self, model: GenerativeModel, n: int, seed: int, labels: Any = None, check: str = "sample"
               ) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        try:
            if model.translates:  # a translation model maps seeded random images of domain A (source_domain 0)
                return model.translate(tiny_batch(self.shape, n, 2, seed).images, 0 if labels is None else labels)
            return model.sample(n, labels, generator=gen)
        except Exception as exc:
            call = f"translate(images, {0 if labels is None else labels})" if model.translates else \
                f"sample({n}, labels={labels!r}, generator=...)"
            raise ConformanceError(self.label, self.shape, check,
                                   f"{call} raised {type(exc).__name__}: {exc}") from exc

    def step(self, model: GenerativeModel, step: int) -> dict[str, float]:
        check = "train_step"  # whichever check runs it, a bad step is a train_step failure
        try:
            out = model.train_step(self.batch, step)
        except Exception as exc:
            raise ConformanceError(self.label, self.shape, check,
                                   f"train_step(batch, step={step}) raised {type(exc).__name__}: {exc}") from exc
        try:  # the harness's own rule (ganzoo.guard), so what passes here trains there
            tensors = loss_tensors(out)
        except LossError as exc:
            self.fail(check, f"train_step(batch, step={step}) returned {exc.what}; {exc.fix}")
        losses = {key: float(value.float()) for key, value in tensors.items()}
        for key, value in losses.items():
            if not math.isfinite(value):
                self.fail(check, f"train_step(batch, step={step}) returned {key}={value} (not finite); check "
                                 "the loss for log(0), division by zero or a too large learning rate")
        return losses

    # -- the checks ----------------------------------------------------------------------------------------
    def check_contract(self) -> None:
        """Instance attributes: image shape, classes, hyperparameters and optimizers."""
        m, check = self.model, "contract"
        if tuple(m.image_shape) != self.shape:
            self.fail(check, f"model.image_shape is {m.image_shape}; pass image_shape to "
                             "GenerativeModel.__init__ (super().__init__(hparams, image_shape, num_classes))")
        missing = sorted(k for k in self.cls.defaults if not hasattr(m.hp, k))
        if missing:
            self.fail(check, f"model.hp lacks {missing}; call super().__init__(hparams, image_shape, num_classes)")
        if not isinstance(m.optimizers, dict) or not m.optimizers:
            self.fail(check, "model.optimizers must be a non-empty dict of name -> torch.optim.Optimizer "
                             "(build them in __init__)")
        own = {id(p) for p in m.parameters()}
        optimized: set[int] = set()
        for key, opt in m.optimizers.items():
            if not isinstance(opt, torch.optim.Optimizer):
                self.fail(check, f"model.optimizers[{key!r}] is {type(opt).__name__}, not a torch.optim.Optimizer")
            for group in opt.param_groups:
                for p in group["params"]:
                    if id(p) not in own:
                        self.fail(check, f"optimizer {key!r} holds a tensor that is not a parameter of the "
                                         "model; build optimizers from the model's own networks")
                    optimized.add(id(p))
        idle = [name for name, net in m.networks().items() if name not in self.untrained
                and any(p.requires_grad and id(p) not in optimized for p in net.parameters())]
        if idle:
            self.fail(check, f"network(s) {idle} have trainable parameters that no optimizer updates; add them "
                             "to an optimizer, set requires_grad=False, or pass untrained=[...]")

    def check_sample(self) -> None:
        """Shape, dtype, value range, batch variety, no gradient history, training mode kept."""
        m, check = self.model, "sample"
        m.train()
        out = self.sample(m, self.n, self.seed)
        want = (self.n, *self.shape)
        if not isinstance(out, torch.Tensor):
            self.fail(check, f"{self.call} returned {type(out).__name__}; return a tensor of shape {want}")
        if tuple(out.shape) != want:
            self.fail(check, f"{self.call} of {self.n} returned shape {tuple(out.shape)}; expected {want}. "
                             "Derive sizes from self.image_shape")
        if not out.is_floating_point():
            self.fail(check, f"{self.call} returned dtype {out.dtype}; return floating-point images in [-1, 1]")
        if out.requires_grad:
            self.fail(check, f"{self.call} returned a tensor with gradient history; generate under torch.no_grad()")
        if not torch.isfinite(out).all():
            self.fail(check, f"{self.call} returned NaN or infinite values")
        low, high = float(out.min()), float(out.max())
        if low < -1 - RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
            self.fail(check, f"{self.call} values lie in [{low:.4g}, {high:.4g}]; images must be in [-1, 1] "
                             "(end the generator with tanh)")
        if self.n > 1 and bool((out == out[:1]).all()):
            what = "translations of different images" if m.translates else "samples"
            self.fail(check, f"the {self.n} {what} are identical; each must come from its own "
                             f"{'input' if m.translates else 'noise'}")
        if m.translates and tuple(self.sample(m, self.n, self.seed, labels=1).shape) != want:
            self.fail(check, "translate(images, 1) (domain B to A) does not return images of the input's shape")
        if not m.training:
            self.fail(check, f"{self.call} left the model in eval mode; restore the mode it found (self.train(was))")

    def check_determinism(self) -> None:
        """Same seed → same weights and samples; another sample seed → other samples; seeded steps repeat."""
        check = "determinism"
        a, b = self.build(self.seed), self.build(self.seed)
        if not _same_state(a, b):
            self.fail(check, "two models built after torch.manual_seed(seed) have different weights; draw "
                             "initial weights from torch's global generator only")
        s1, s2 = self.sample(a, self.n, self.seed, check=check), self.sample(a, self.n, self.seed, check=check)
        if not torch.equal(s1, s2):
            self.fail(check, "sample(n, generator=g) differs between two generators with the same seed; draw "
                             "all noise from `generator` (see GenerativeModel.noise)")
        if torch.equal(s1, self.sample(a, self.n, self.seed + 1, check=check)):
            self.fail(check, "sample() gives the same images for generators with different seeds; draw the "
                             "noise from `generator`")
        torch.manual_seed(self.seed)
        la = self.step(a, 0)
        torch.manual_seed(self.seed)
        lb = self.step(b, 0)
        if la != lb or not _same_state(a, b):
            self.fail(check, "train_step after torch.manual_seed(seed) is not repeatable on the CPU; use torch's "
                             "global generator for training noise (no numpy/random, no time)")

    def check_train_step(self) -> None:
        """Every step returns finite detached scalars; every trained network changes."""
        m = self.model
        m.train()
        before = {k: v.detach().clone() for k, v in m.state_dict().items()}
        for step in range(self.train_steps):
            self.losses = self.step(m, step)
        params = dict(m.named_parameters())
        unchanged = []
        for name, net in m.networks().items():
            trainable = [k for k, p in params.items() if k.startswith(f"{name}.") and p.requires_grad]
            if name in self.untrained or not trainable:
                continue
            if all(torch.equal(before[k], params[k].detach()) for k in trainable if k in before):
                unchanged.append(name)
        if unchanged:
            self.fail("train_step", f"{self.train_steps} train_step call(s) left the weights of {unchanged} "
                                    "unchanged; step each optimizer (self.optimize(name, loss)), or pass "
                                    "untrained=[...] for networks that are not trained by gradient")

    def check_save_restore(self) -> None:
        """training_state() survives torch.save/torch.load(weights_only=True) and resumes identically."""
        check, m = "save_restore", self.model
        if not self.losses:  # give the optimizers a state worth saving
            self.losses = self.step(m, 0)
        buf = io.BytesIO()
        try:
            torch.save(m.training_state(), buf)
            buf.seek(0)
            state = torch.load(buf, weights_only=True)
        except Exception as exc:
            raise ConformanceError(self.label, self.shape, check,
                                   f"training_state() cannot be saved and read back with torch.load("
                                   f"weights_only=True): {type(exc).__name__}: {exc}. Keep only tensors, numbers "
                                   "and plain containers in it") from exc
        copy = self.build(self.seed + 1)
        try:
            copy.load_training_state(state)
        except Exception as exc:
            raise ConformanceError(self.label, self.shape, check,
                                   f"load_training_state() raised {type(exc).__name__}: {exc}") from exc
        if not _same_state(m, copy):
            self.fail(check, "after load_training_state() the weights differ from the saved model")
        if not torch.equal(self.sample(m, self.n, self.seed, check=check),
                           self.sample(copy, self.n, self.seed, check=check)):
            self.fail(check, "a restored model samples differently from the saved one")
        step = self.train_steps
        torch.manual_seed(self.seed)
        la = self.step(m, step)
        torch.manual_seed(self.seed)
        lb = self.step(copy, step)
        if la != lb or not _same_state(m, copy):
            self.fail(check, "one more train_step after load_training_state() differs from the original model's: "
                             "some training state (optimizer state, counters, buffers) is not saved; extend "
                             "training_state()/load_training_state()")

    def check_labels(self) -> None:
        """Conditional models: each class gives other samples from the same noise (ganzoo refuses bad labels)."""
        m, check = self.model, "labels"
        k = min(self.num_classes, 4)
        outs = []
        for c in range(k):
            out = self.sample(m, self.n, self.seed, labels=torch.full((self.n,), c, dtype=torch.long), check=check)
            if tuple(out.shape) != (self.n, *self.shape):
                self.fail(check, f"sample(labels=...) returned shape {tuple(out.shape)}")
            outs.append(out)
        for c in range(1, k):
            if torch.equal(outs[0], outs[c]):
                self.fail(check, f"sample() gives the same images for label 0 and label {c} from the same noise: "
                                 "the generator ignores the labels")
        if not torch.equal(outs[1], self.sample(m, self.n, self.seed, labels=1, check=check)):
            self.fail(check, "sample(n, labels=1) must equal sample(n, labels=tensor of ones): an int label "
                             "applies to every sample (use self.check_labels)")


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def assert_same_state(a: Any, b: Any, where: str = "state") -> None:
    """Assert two (nested) states are equal, tensors bit for bit: e.g. a resumed run's checkpoint and an
    uninterrupted one's. The AssertionError names the first key path that differs."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"
