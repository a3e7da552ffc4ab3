"""The model contract: the one base class that the training harness drives for every model."""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, ClassVar, Mapping, NamedTuple

import torch
from torch import nn

from ganzoo.errors import ConfigError

__all__ = ["Batch", "GenerativeModel", "Range", "class_summary"]


class Batch(NamedTuple):
    """One training batch: images scaled to [-1, 1] (N, C, H, W) and integer class labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor


@dataclass(frozen=True)
class Range:
    """An allowed numeric interval for a hyperparameter (inclusive bounds; None means unbounded)."""

    low: float | None = None
    high: float | None = None

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"a number in [{lo}, {hi}]"


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

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        super().__init__()
        self.hp = SimpleNamespace(**{**self.defaults, **dict(hparams or {})})
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_classes = int(num_classes)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        #: Gradient scalers by optimizer name, set by the harness for fp16 training on CUDA.
        self.scalers: dict[str, Any] = {}

    # -- the contract ---------------------------------------------------------------------------------
    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor | float]:
        """Run one optimisation step on ``batch`` and return named scalar losses."""
        raise NotImplementedError

    def sample(self, n: int, labels: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Generate ``n`` images in [-1, 1] of shape ``(n, *image_shape)``; ``labels`` for conditional models."""
        raise NotImplementedError

    # -- helpers shared by every model -------------------------------------------------------------
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

    def networks(self) -> dict[str, nn.Module]:
        """The model's networks (its direct sub-modules), by attribute name."""
        return dict(self.named_children())

    def wrap_networks(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Replace each network by ``wrap(network)`` (the harness uses it for DistributedDataParallel)."""
        for attr, net in list(self.named_children()):
            if any(p.requires_grad for p in net.parameters()):
                setattr(self, attr, wrap(net))

    def unwrapped_state_dict(self) -> dict[str, torch.Tensor]:
        """The networks' weights without DistributedDataParallel's ``module.`` prefixes."""
        return {k.replace(".module.", ".", 1) if ".module." in k else k: v for k, v in self.state_dict().items()}

    def training_state(self) -> dict[str, Any]:
        """Everything needed to resume: weights, optimizer and scaler states."""
        return {
            "networks": self.unwrapped_state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
        }

    def load_training_state(self, state: Mapping[str, Any], weights_only: bool = False) -> None:
        """Restore :meth:`training_state` (just the weights when ``weights_only``)."""
        target = self
        own = self.state_dict()
        weights = dict(state["networks"])
        if any(".module." in k for k in own):  # wrapped in DDP: add the prefixes back
            remap = {k.replace(".module.", ".", 1): k for k in own}
            weights = {remap.get(k, k): v for k, v in weights.items()}
        target.load_state_dict(weights)
        if weights_only:
            return
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.scalers.items():
            if k in state.get("scalers", {}):
                s.load_state_dict(state["scalers"][k])

    def parameter_counts(self) -> dict[str, int]:
        """Number of parameters of each network."""
        return {k: sum(p.numel() for p in m.parameters()) for k, m in self.networks().items()}


def class_summary(cls: type) -> str:
    """A registered class's one-line description: its ``description``, else its docstring's first line."""
    if getattr(cls, "description", ""):
        return cls.description
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""
