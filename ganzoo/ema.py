"""An exponential moving average of a model's generator weights, kept with torch's ``AveragedModel``.

Sampling from an average of the generator's recent weights instead of the last ones gives smoother, better samples
at no training cost (Karras et al. 2018, "Progressive growing of GANs"; Yazıcı et al. 2019, "The unusual
effectiveness of averaging in GAN training"). torch's :class:`~torch.optim.swa_utils.AveragedModel` keeps the copy;
``use_buffers=True`` averages BatchNorm's running statistics with the weights, so the copy normalises with
statistics of (nearly) its own weights.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ganzoo.errors import ConfigError

__all__ = ["WeightAverage", "ema_decay"]


def ema_decay(decay: float, half_life: float) -> float:
    """The per-step decay from ``ema_decay`` or ``ema_half_life`` (steps for a weight to count half); 0 = off."""
    if decay and half_life:
        raise ConfigError(f"ema_decay ({decay:g}) and ema_half_life ({half_life:g}) are both set; set one "
                          "(the other to 0): a half-life of h steps is a decay of 0.5 ** (1 / h)")
    return 0.5 ** (1.0 / half_life) if half_life else float(decay)


def _plain(net: nn.Module) -> nn.Module:
    return net.module if isinstance(net, DistributedDataParallel) else net


class WeightAverage(nn.ModuleDict):
    """The averaged copies of a model's named networks; the first :meth:`fold_in` copies them as they are."""

    def __init__(self, networks: dict[str, nn.Module], decay: float) -> None:
        """An averaged copy of each of ``networks`` (name → module, DDP-wrapped or not), folded in with ``decay``."""
        super().__init__({name: AveragedModel(_plain(net), multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
                          for name, net in networks.items()})
        for p in self.parameters():
            p.requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def fold_in(self, networks: dict[str, nn.Module]) -> None:
        """Move each average towards its network's current weights and buffers by ``1 − decay``."""
        for name, averaged in self.items():
            averaged.update_parameters(_plain(networks[name]))

    @property
    def updates(self) -> int:
        """How many times the averages were updated (0: never)."""
        return int(next(iter(self.values())).n_averaged) if len(self) else 0

    @contextlib.contextmanager
    def swapped_into(self, model: nn.Module) -> Iterator[None]:
        """Make the averaged networks the model's own for a while (the trained ones come back afterwards)."""
        trained = {name: getattr(model, name) for name in self}
        try:
            for name, averaged in self.items():
                model._modules[name] = averaged.module
            yield
        finally:
            for name, net in trained.items():
                model._modules[name] = net

