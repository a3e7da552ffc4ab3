"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation between two domains, small enough for a CPU.

Two ResNet generators (G_AB: A → B, G_BA: B → A), two PatchGAN discriminators (D_A judges domain A, D_B domain B),
the least-squares GAN loss, the cycle-consistency loss (A → B → A and B → A → B give back their input, L1), the
identity loss (G_AB leaves a B image as it is, G_BA an A image) and the history pool of generated images that the
discriminators train on. The domains are classes 0 (A) and 1 (B) of the data (``ganzoo.translation``).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import hookimpl
from ganzoo.losses import AdversarialLoss, create_loss
from ganzoo.model import EMA_CHOICES, EMA_DEFAULTS, Batch, Range
from ganzoo.nn import ImagePool
from ganzoo.registry import Registered
from ganzoo.translation import TranslationModel

__all__ = ["CycleGAN", "PatchDiscriminator", "ResnetBlock", "ResnetGenerator", "register_models"]


class ResnetBlock(nn.Module):
    """Two reflect-padded 3×3 convs with instance norm and a ReLU between them, added to the input."""

    def __init__(self, channels: int) -> None:
        """A residual block of ``channels`` feature maps."""
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` plus the block's residual."""
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator: c7s1-w, ``downsamplings`` stride-2 convs doubling the width, ``blocks`` residual
    blocks, as many stride-2 transposed convs back, c7s1-C and tanh; instance norm and ReLU throughout.

    Any image size works: the input is reflect-padded to a multiple of 2**downsamplings and the output cropped back.
    """

    def __init__(self, channels: int, width: int, blocks: int, downsamplings: int = 2) -> None:
        """A generator for ``channels``-channel images with ``width`` feature maps at full size."""
        super().__init__()
        self.multiple = 2 ** downsamplings
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, width, 7), nn.InstanceNorm2d(width),
                                   nn.ReLU(True)]
        w = width
        for _ in range(downsamplings):
            layers += [nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * w), nn.ReLU(True)]
            w *= 2
        layers += [ResnetBlock(w) for _ in range(blocks)]
        for _ in range(downsamplings):
            layers += [nn.ConvTranspose2d(w, w // 2, 3, stride=2, padding=1, output_padding=1),
                       nn.InstanceNorm2d(w // 2), nn.ReLU(True)]
            w //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, channels, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        for m in self.body.modules():  # the authors' init: N(0, 0.02)
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] → images of the same shape in [-1, 1]."""
        h, w = x.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        if ph or pw:  # reflect needs the pad smaller than the side: replicate for tiny images
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return self.body(x)[..., :h, :w]


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix/CycleGAN): stride-2 4×4 convs doubling the width (``layers`` of them, instance norm after
    the first), one stride-1 4×4 conv, and a 1-channel 4×4 conv: one realness score per overlapping patch.

    With 2 stride-2 layers a score sees a 22×22 patch (3: 46×46, the paper's 70×70 needs 3 at 256×256 images).
    Images smaller than the stack's reach are padded by replication to 16 pixels.
    """

    def __init__(self, channels: int, width: int, layers: int = 2) -> None:
        """A discriminator of ``channels``-channel images, ``width`` feature maps in its first conv."""
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        w = width
        for _ in range(1, layers):
            seq += [nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.InstanceNorm2d(2 * w), nn.LeakyReLU(0.2, True)]
            w *= 2
        seq += [nn.Conv2d(w, 2 * w, 4, stride=1, padding=1), nn.InstanceNorm2d(2 * w), nn.LeakyReLU(0.2, True),
                nn.Conv2d(2 * w, 1, 4, stride=1, padding=1)]
        self.body = nn.Sequential(*seq)
        self.min_side = 2 ** (layers + 2)
        for m in self.body.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images → patch scores flattened to one value per patch per image ``(N·P,)``."""
        h, w = x.shape[-2:]
        if min(h, w) < self.min_side:
            x = F.pad(x, (0, max(0, self.min_side - w), 0, max(0, self.min_side - h)), mode="replicate")
        return self.body(x).reshape(-1)


class CycleGAN(TranslationModel):
    """CycleGAN (Zhu 2017): unpaired translation between two domains (classes 0 and 1 of the data).

    Per step: G_AB and G_BA translate the batch's A and B images, translate them back (cycle), and map each domain's
    images through its own-domain generator (identity); the generators take one Adam step on
    LSGAN + ``cycle_weight``·L1(cycle) + ``identity_weight``·L1(identity), then the discriminators one step on real
    images against generated ones drawn through the image pools (``pool_size``). The paper's recipe: Adam(2e-4,
    β1 0.5), λ_cycle 10, λ_identity 0.5·λ_cycle, pool 50; its ResNet generator has 64 channels and 9 blocks at 256×256.
    Each batch mixes both domains as the data does; a batch lacking one domain updates the generators on what it has
    and skips the discriminators' update (each needs real images of its domain and generated ones).
    """

    name = "cyclegan"
    family = "gan"
    description = "CycleGAN (Zhu 2017): unpaired A↔B translation, ResNet G ×2, PatchGAN D ×2, LSGAN, cycle + identity"
    defaults: dict[str, Any] = {
        "g_channels": 16,
        "g_blocks": 4,
        "downsamplings": 2,
        "d_channels": 16,
        "d_layers": 2,
        "loss": "least-squares",
        "cycle_weight": 10.0,
        "identity_weight": 5.0,
        "pool_size": 50,
        "lr_g": 2e-4,
        "lr_d": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "batch_size": 16,
        **EMA_DEFAULTS,
    }
    choices: dict[str, Any] = {
        "g_channels": Range(1, 1024),
        "g_blocks": Range(0, 64),
        "downsamplings": Range(0, 4),
        "d_channels": Range(1, 1024),
        "d_layers": Range(1, 6),
        "loss": Registered("losses"),
        "cycle_weight": Range(0, 1e4),
        "identity_weight": Range(0, 1e4),
        "pool_size": Range(0, 10_000),
        "lr_g": Range(0, 1),
        "lr_d": Range(0, 1),
        "beta1": Range(0, 1),
        "beta2": Range(0, 1),
        "batch_size": Range(2, 65536),
        **EMA_CHOICES,
    }
    sample_networks = ("G_AB", "G_BA")

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 2) -> None:
        """As :class:`ganzoo.translation.TranslationModel`; builds the two generators, the two discriminators, the
        image pools and one Adam optimizer for the generators and one for the discriminators."""
        super().__init__(hparams, image_shape, num_classes)
        c, hp = self.image_shape[0], self.hp
        self.G_AB = ResnetGenerator(c, hp.g_channels, hp.g_blocks, hp.downsamplings)
        self.G_BA = ResnetGenerator(c, hp.g_channels, hp.g_blocks, hp.downsamplings)
        self.D_A = PatchDiscriminator(c, hp.d_channels, hp.d_layers)
        self.D_B = PatchDiscriminator(c, hp.d_channels, hp.d_layers)
        self.image_pools = nn.ModuleDict({"A": ImagePool(hp.pool_size, self.image_shape),
                                          "B": ImagePool(hp.pool_size, self.image_shape)})
        self.gan_loss: AdversarialLoss = create_loss(hp.loss, vars(hp))
        betas = (hp.beta1, hp.beta2)
        self.optimizers = {
            "G": torch.optim.Adam([*self.G_AB.parameters(), *self.G_BA.parameters()], lr=hp.lr_g, betas=betas),
            "D": torch.optim.Adam([*self.D_A.parameters(), *self.D_B.parameters()], lr=hp.lr_d, betas=betas),
        }

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor | float]:
        """One generator update (adversarial + cycle + identity), then one discriminator update on pooled fakes."""
        real_a, real_b = self.split_domains(batch)
        has_a, has_b = len(real_a) > 0, len(real_b) > 0
        zero = batch.images.new_zeros(())
        for d in (self.D_A, self.D_B):  # no gradients into the discriminators during the generators' update
            d.requires_grad_(False)
        fake_b = self.G_AB(real_a) if has_a else None
        fake_a = self.G_BA(real_b) if has_b else None
        adv_ab = self.gan_loss.g_loss(self.D_B(fake_b)) if has_a else zero
        adv_ba = self.gan_loss.g_loss(self.D_A(fake_a)) if has_b else zero
        cycle = zero
        if has_a:
            cycle = cycle + F.l1_loss(self.G_BA(fake_b), real_a)
        if has_b:
            cycle = cycle + F.l1_loss(self.G_AB(fake_a), real_b)
        identity = zero
        if self.hp.identity_weight > 0:
            if has_b:
                identity = identity + F.l1_loss(self.G_AB(real_b), real_b)
            if has_a:
                identity = identity + F.l1_loss(self.G_BA(real_a), real_a)
        g_loss = adv_ab + adv_ba + self.hp.cycle_weight * cycle + self.hp.identity_weight * identity
        self.optimize("G", g_loss)
        for d in (self.D_A, self.D_B):
            d.requires_grad_(True)
        d_loss = zero
        if has_a and has_b:  # each discriminator needs real images of its domain and generated ones
            pooled_b = self.image_pools["B"].query(fake_b)
            pooled_a = self.image_pools["A"].query(fake_a)
            d_loss = (self.gan_loss.d_loss(self.D_B(real_b), self.D_B(pooled_b))
                      + self.gan_loss.d_loss(self.D_A(real_a), self.D_A(pooled_a)))
            self.optimize("D", d_loss)
        return {"g_loss": g_loss.detach(), "g_adv": (adv_ab + adv_ba).detach(), "cycle": cycle.detach(),
                "identity": identity.detach(), "d_loss": d_loss.detach()}

    def translate(self, images: torch.Tensor, source_domain: int) -> torch.Tensor:
        """Images of domain ``source_domain`` (0: A, 1: B) through G_AB or G_BA, in eval mode without gradients."""
        net = self.G_AB if source_domain == 0 else self.G_BA
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return net(images.to(self.device)).float()
        finally:
            self.train(was_training)


@hookimpl
def register_models(register: Callable[..., Any]) -> None:
    """Register CycleGAN."""
    register(CycleGAN)
