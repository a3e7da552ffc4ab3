"""The shared discriminator regularisers: R1 (lazy) and LeCam."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from ganzoo import hookimpl
from ganzoo.model import Range
from ganzoo.regularizers import Regularizer


class R1(Regularizer):
    """R1 gradient penalty on real images (Mescheder et al. 2018), lazy: every ``r1_every`` steps (Karras 2020).

    γ/2 · E‖∇ₓ D(x)‖² on the real batch; computed every k-th discriminator step and weighted by k, as StyleGAN2
    does, so it costs 1/k of a penalty per step for about the same effect.
    """

    name = "r1"
    defaults = {"r1_gamma": 10.0, "r1_every": 16}
    choices = {"r1_gamma": Range(0, 1e6), "r1_every": Range(1, 1e6)}

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))  # saved with the networks
        self._calls: int | None = None  # its value on the host, read once after a load (no per-step device sync)
        self.register_load_state_dict_post_hook(lambda module, keys: setattr(module, "_calls", None))

    def d_term(self, critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
               real_logits: torch.Tensor, fake_logits: torch.Tensor
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]] | None:
        """``r1_every`` · γ/2 · E‖∇ D(x)‖² on every ``r1_every``-th call, logged unweighted as ``r1``; else None."""
        if self._calls is None:
            self._calls = int(self.calls)
        due = self._calls % self.hp.r1_every == 0
        self._calls += 1
        self.calls += 1
        if not due or self.hp.r1_gamma <= 0:
            return None
        x = real.detach().requires_grad_(True)
        (grads,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        r1 = grads.float().pow(2).flatten(1).sum(1).mean()
        return self.hp.r1_every * self.hp.r1_gamma / 2 * r1, {"r1": r1.detach()}


class LeCam(Regularizer):
    """LeCam regulariser (Tseng et al. 2021): D's outputs pulled towards moving averages of the other side's.

    ``lecam_weight`` · (E[relu(D(x) − α_fake)²] + E[relu(α_real − D(G(z)))²]) with α the moving averages
    (decay ``lecam_decay``) of D's mean output on real and on generated images; it keeps D from growing
    over-confident on a small data set.
    """

    name = "lecam"
    defaults = {"lecam_weight": 0.3, "lecam_decay": 0.99}
    choices = {"lecam_weight": Range(0, 1e6), "lecam_decay": Range(0, 1, high_open=True)}

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self.register_buffer("real_mean", torch.zeros(()))
        self.register_buffer("fake_mean", torch.zeros(()))

    def d_term(self, critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
               real_logits: torch.Tensor, fake_logits: torch.Tensor
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]] | None:
        """The weighted LeCam term against the averages so far, then the averages moved; logged as ``lecam``."""
        real_logits, fake_logits = real_logits.float(), fake_logits.float()
        term = (F.relu(real_logits - self.fake_mean).pow(2).mean()
                + F.relu(self.real_mean - fake_logits).pow(2).mean())
        with torch.no_grad():
            self.real_mean.lerp_(real_logits.mean(), 1 - self.hp.lecam_decay)
            self.fake_mean.lerp_(fake_logits.mean(), 1 - self.hp.lecam_decay)
        return self.hp.lecam_weight * term, {"lecam": term.detach()}


@hookimpl
def register_regularizers(register: Callable[..., Any]) -> None:
    """Register the shared regularisers: r1 and lecam."""
    register(R1)
    register(LeCam)
