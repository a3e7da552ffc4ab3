"""A small StyleGAN2-style generator (Karras et al. 2020): mapping network, modulated convs, noise, style mixing.

Demodulated (StyleGAN2) convolutions rather than StyleGAN's AdaIN: AdaIN normalises each feature map's mean and
variance away, which the generator learns to sidestep with blob-like "droplet" artefacts; demodulation scales the
weights instead so that the expected output variance is one, removing the artefacts, and it is the current form.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import hookimpl
from ganzoo.adversarial import AdversarialModel
from ganzoo.model import Range
from ganzoo.nn import ConvEncoder, conv_plan

__all__ = [
    "MappingNetwork", "MinibatchStd", "ModulatedConv", "StyleDiscriminator", "StyleGAN", "StyleGenerator",
    "register_models", "style_mix_grid",
]


class MappingNetwork(nn.Module):
    """z → w: the latent normalised to unit mean square (pixel norm), then ``layers`` linear layers with LeakyReLU."""

    def __init__(self, latent_dim: int, w_dim: int, layers: int) -> None:
        """``layers`` linear layers from ``latent_dim`` to ``w_dim`` (each ``w_dim`` wide)."""
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Linear(latent_dim if i == 0 else w_dim, w_dim), nn.LeakyReLU(0.2)]
        for layer in blocks[::2]:  # He initialisation: torch's default shrinks the variance ~3× per layer, so w
            nn.init.kaiming_normal_(layer.weight, a=0.2)  # (and the styles) hardly varied with z: the samples collapsed
            nn.init.zeros_(layer.bias)
        self.body = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Intermediate latents ``(N, w_dim)``."""
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        return self.body(z)


class ModulatedConv(nn.Module):
    """A conv whose input channels are scaled per sample by a style from w (and, with ``demodulate``, renormalised).

    Runs as StyleGAN2's non-fused form: the input is scaled by the styles, convolved with the shared weight, and the
    output scaled by the per-sample demodulation coefficients; this equals the per-sample modulated weight (one
    grouped convolution over the batch) up to rounding and, on CPU in channels-last layout, cost 2/3 of the G step
    (68 vs 101 ms forward + backward at batch 64, 28×28, 1 thread). With ``noise``: per-pixel Gaussian noise scaled
    by a learned per-channel strength (initially 0) is added after the conv, then a bias and LeakyReLU(0.2) (×√2).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, w_dim: int, *, demodulate: bool = True,
                 noise_size: tuple[int, int] | None = None, activate: bool = True) -> None:
        """A ``kernel``×``kernel`` conv; ``noise_size`` (h, w) adds noise inputs (a fixed map is kept for eval)."""
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.scale = 1 / math.sqrt(in_channels * kernel * kernel)  # equalised learning rate (runtime He scaling)
        self.affine = nn.Linear(w_dim, in_channels)
        nn.init.normal_(self.affine.weight, 0.0, 1 / math.sqrt(w_dim))  # styles of unit spread around 1, as StyleGAN2
        nn.init.ones_(self.affine.bias)  # styles start at 1: the conv starts unmodulated
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.demodulate, self.activate, self.padding = demodulate, activate, kernel // 2
        if noise_size is not None:
            self.noise_strength = nn.Parameter(torch.zeros(out_channels))
            # The noise used in eval mode, so that sampling depends on z alone (StyleGAN2's noise_mode="const").
            self.register_buffer("noise_const", torch.randn(1, 1, *noise_size))
        else:
            self.noise_strength = None

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x`` (N, in, H, W) modulated by the styles of ``w`` (N, w_dim) → (N, out, H, W)."""
        n, _, h, wd = x.shape
        styles = self.affine(w)  # (N, in)
        weight = self.weight * self.scale
        if x.device.type == "cpu":  # oneDNN's conv backward at 28×28 is ~2× faster channels-last
            x = x.contiguous(memory_format=torch.channels_last)
        out = F.conv2d(x * styles[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:  # 1 / ‖w · s‖ per sample and output channel: Σ_in s² Σ_k w²
            out = out * torch.rsqrt(styles.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)[:, :, None, None]
        if self.noise_strength is not None:
            noise = (torch.randn(n, 1, h, wd, device=x.device, dtype=x.dtype) if self.training
                     else self.noise_const.to(x.dtype))
            out = out + noise * self.noise_strength[None, :, None, None]
        out = out + self.bias[None, :, None, None]
        return F.leaky_relu(out, 0.2) * math.sqrt(2) if self.activate else out


class StyleGenerator(nn.Module):
    """The synthesis network on a learned constant, with the skip architecture: a toRGB at every resolution.

    Sized by :func:`ganzoo.nn.conv_plan` (28 → 7×7 and two ×2 stages, 32 → 4×4 and three, 64 → 4×4 and four).
    One modulated 3×3 conv at the base size, then per stage a bilinear ×2 upsampling and two modulated 3×3 convs;
    channels halve per stage down to ``width``. Every resolution has a 1×1 modulated toRGB (not demodulated); the
    RGB outputs are upsampled and summed. w is tracked by ``w_avg`` (a running mean, updated in training) for the
    truncation trick; ``num_ws`` styles feed the convs in order (the toRGB shares its stage's last conv's style).
    """

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], width: int, w_dim: int,
                 mapping_layers: int, w_avg_beta: float = 0.995) -> None:
        """A generator of ``image_shape`` images with ``width`` channels at full size and a ``w_dim`` latent."""
        super().__init__()
        stages, (bh, bw) = conv_plan(image_shape)
        widths = [width * 2 ** (stages - i) for i in range(stages + 1)]  # one per resolution, base first
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg_beta = w_avg_beta
        self.const = nn.Parameter(torch.randn(1, widths[0], bh, bw))
        self.convs = nn.ModuleList([ModulatedConv(widths[0], widths[0], 3, w_dim, noise_size=(bh, bw))])
        self.to_rgb = nn.ModuleList([ModulatedConv(widths[0], image_shape[0], 1, w_dim, demodulate=False,
                                                   activate=False)])
        for i in range(1, stages + 1):
            size = (bh << i, bw << i)
            self.convs.append(ModulatedConv(widths[i - 1], widths[i], 3, w_dim, noise_size=size))
            self.convs.append(ModulatedConv(widths[i], widths[i], 3, w_dim, noise_size=size))
            self.to_rgb.append(ModulatedConv(widths[i], image_shape[0], 1, w_dim, demodulate=False, activate=False))
        self.num_ws = len(self.convs)
        #: Styles of the coarse resolutions: the base and the first half of the stages (rounded up), ending at a
        #: resolution boundary. 28×28: 3 of 5 (7×7 and 14×14; 28×28 is fine), 32×32: 5 of 7 (4–16), 64×64: 5 of 9.
        self.num_coarse = 1 + 2 * math.ceil(stages / 2)

    def ws(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """z → w ``(N, w_dim)`` pulled towards ``w_avg`` by ψ = ``truncation`` (1: none); in training, updates
        ``w_avg``."""
        w = self.mapping(z)
        if self.training:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(0).to(self.w_avg.dtype), 1 - self.w_avg_beta)
        if truncation != 1.0:
            w = self.w_avg.to(w.dtype) + truncation * (w - self.w_avg.to(w.dtype))
        return w

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        """Per-layer styles ``(N, num_ws, w_dim)`` → image in [-1, 1] (tanh on the summed RGB)."""
        x = self.const.expand(ws.size(0), -1, -1, -1)
        x = self.convs[0](x, ws[:, 0])
        rgb = self.to_rgb[0](x, ws[:, 0])
        for i in range(1, len(self.to_rgb)):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = self.convs[2 * i - 1](x, ws[:, 2 * i - 1])
            x = self.convs[2 * i](x, ws[:, 2 * i])
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
            rgb = rgb + self.to_rgb[i](x, ws[:, 2 * i])
        return torch.tanh(rgb)

    def forward(self, z: torch.Tensor, truncation: float = 1.0, mixing: float = 0.0) -> torch.Tensor:
        """z → images; with probability ``mixing`` (training) the styles after a random layer come from a second z."""
        w = self.ws(z, truncation)
        ws = w[:, None].expand(-1, self.num_ws, -1)
        if mixing > 0 and self.num_ws > 1 and torch.rand(()).item() < mixing:
            cutoff = int(torch.randint(1, self.num_ws, ()).item())
            w2 = self.ws(torch.randn_like(z), truncation)
            layer = torch.arange(self.num_ws, device=z.device)[None, :, None]
            ws = torch.where(layer < cutoff, ws, w2[:, None])
        return self.synthesis(ws)


class MinibatchStd(nn.Module):
    """StyleGAN's minibatch standard deviation: appends one feature map, the spread of the features across samples.

    The batch is split into groups of ``group_size`` (the whole batch if smaller; sizes that do not divide it use
    the largest divisor that is not larger); per group, the standard deviation of every feature over the group's
    samples is averaged into one number, broadcast as an extra channel to each member. A generator that collapses
    to few modes gives batches of low spread, which the discriminator then sees directly.
    """

    def __init__(self, group_size: int = 4) -> None:
        """Statistics over groups of ``group_size`` samples."""
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (N, C, H, W) → (N, C + 1, H, W)."""
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        y = x.reshape(g, n // g, c * h * w).float()  # sample i is in group i mod N/g, as in StyleGAN
        y = y - y.mean(dim=0)  # by hand: torch.var over dim 0 took 6× the time (5.4 vs 0.9 ms fwd+bwd, 64×64×7×7)
        std = y.square().mean(dim=0).add(1e-8).sqrt().mean(dim=1).to(x.dtype)  # (N/g,)
        return torch.cat([x, std.repeat(g)[:, None, None, None].expand(n, 1, h, w)], dim=1)


class StyleDiscriminator(nn.Module):
    """Strided convs (:class:`ganzoo.nn.ConvEncoder` without its flatten) and StyleGAN's epilogue at the base size.

    With ``mbstd_group`` > 0: a :class:`MinibatchStd` channel, a 3×3 conv and LeakyReLU(0.2) at the base size
    before the linear logit; with 0, the encoder's features go straight to the linear logit.
    """

    def __init__(self, image_shape: tuple[int, int, int], width: int, mbstd_group: int = 4) -> None:
        """A discriminator of ``image_shape`` images with base ``width`` (doubling per stage)."""
        super().__init__()
        encoder = ConvEncoder(image_shape, width, norm="none", act="leaky")
        layers = list(encoder.body)[:-1]  # without the Flatten
        channels = encoder.out_features // math.prod(conv_plan(image_shape)[1])
        if mbstd_group > 0:
            layers += [MinibatchStd(mbstd_group), nn.Conv2d(channels + 1, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.logit = nn.Linear(encoder.out_features, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Validity logits ``(N, 1)``."""
        return self.logit(self.body(images))


class StyleGAN(AdversarialModel):
    """Unconditional StyleGAN2-style GAN, small: mapping network, modulated convs, noise, style mixing, truncation.

    G: :class:`StyleGenerator` (skip architecture: toRGB per resolution). D: :class:`StyleDiscriminator`, strided
    convs (no normalisation, LeakyReLU), StyleGAN's minibatch-stddev epilogue (``mbstd_group``; 0: off) and a
    linear logit; the non-saturating logistic loss (``bce``) with lazy R1 on real images, as StyleGAN2.
    Path-length regularisation is left out: it needs a second generator pass with a double backward through the
    modulated convs (≈ +50% G cost every 4th step) and mainly smooths w → image for projection and interpolation,
    not sample quality at this size. Equalised learning rate is used in the synthesis convs only; the mapping
    network is plain, its Adam rate scaled by ``mapping_lr_mul`` (StyleGAN's 0.01, which with Adam is what its
    equalised-lr multiplier amounts to).
    ``truncation`` ψ is applied at sampling (eval mode) only; ``style_mixing`` is the per-batch mixing probability.
    """

    name = "stylegan"
    description = "StyleGAN2-style (Karras 2020), small: mapping net, modulated convs, noise, style mixing, truncation"
    defaults = {**AdversarialModel.defaults, "latent_dim": 64, "w_dim": 64, "mapping_layers": 4, "g_channels": 16,
                "d_channels": 32, "style_mixing": 0.9, "truncation": 1.0, "w_avg_beta": 0.995, "lr_g": 2e-3,
                "lr_d": 2e-3, "beta1": 0.0, "beta2": 0.99, "regularizers": ["r1"], "r1_gamma": 1.0, "mbstd_group": 4,
                "mapping_lr_mul": 0.01}
    choices = {**AdversarialModel.choices, "w_dim": Range(1, 4096), "mapping_layers": Range(1, 16),
               "g_channels": Range(1, 4096), "d_channels": Range(1, 4096), "style_mixing": Range(0, 1),
               "truncation": Range(-2, 2), "w_avg_beta": Range(0, 1), "mbstd_group": Range(0, 65536),
               "mapping_lr_mul": Range(0, 1)}

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        super().__init__(hparams, image_shape, num_classes)
        self.G = StyleGenerator(self.hp.latent_dim, self.image_shape, self.hp.g_channels, self.hp.w_dim,
                                self.hp.mapping_layers, self.hp.w_avg_beta)
        self.D = StyleDiscriminator(self.image_shape, self.hp.d_channels, self.hp.mbstd_group)
        self.build_optimizers()

    def build_optimizers(self) -> None:
        """Adam for G and D as :class:`AdversarialModel`'s, the mapping network's rate × ``mapping_lr_mul``."""
        super().build_optimizers()
        if self.hp.mapping_lr_mul != 1:
            mapping = list(self.G.mapping.parameters())
            ids = {id(p) for p in mapping}
            rest = [p for p in self.G.parameters() if id(p) not in ids]
            self.optimizers["G"] = torch.optim.Adam(
                [{"params": rest}, {"params": mapping, "lr": self.hp.lr_g * self.hp.mapping_lr_mul}],
                lr=self.hp.lr_g, betas=(self.hp.beta1, self.hp.beta2))

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """z → image in [-1, 1]: style mixing in training, the truncation ψ in eval mode."""
        if self.training:
            return self.G(z, mixing=self.hp.style_mixing)
        return self.G(z, truncation=self.hp.truncation)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Image → validity logit."""
        return self.D(images).squeeze(1)

    def style_mix_grid(self, rows: int, cols: int, seed: int = 0) -> torch.Tensor:
        """:func:`style_mix_grid` of this model (what ``ganzoo sample --style-mix`` draws)."""
        return style_mix_grid(self, rows, cols, seed)


def style_mix_grid(model: StyleGAN, rows: int, cols: int, seed: int = 0, coarse: int | None = None) -> torch.Tensor:
    """The paper's style-mixing grid ``((rows+1)·(cols+1), C, H, W)``: coarse styles by row, fine ones by column.

    The top row shows the ``cols`` column sources, the left column the ``rows`` row sources (the corner is black);
    cell (r, c) takes the first ``coarse`` styles (default: ``num_coarse``, the low resolutions) from row source r and
    the rest from column source c. Half the styles (2 of 5 at 28×28) split the 14×14 stage, its second conv and its
    toRGB coming from the column: in 20×20 grids of zoo.yaml's recipe (3,000 steps, seeds 0 and 1) mnist-cnn read
    the row's digit in 81% and 69% of the cells with 2 coarse styles, 96% and 82% with 3 (the column's: 10–15%).
    Uses the model's sampling weights (its average, if any) and its ``truncation``.
    """
    g: StyleGenerator = model.G
    coarse = g.num_coarse if coarse is None else coarse
    gen = torch.Generator().manual_seed(seed)
    z_rows = torch.randn(rows, model.hp.latent_dim, generator=gen).to(model.device)
    z_cols = torch.randn(cols, model.hp.latent_dim, generator=gen).to(model.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), model.sampling_weights():
            w_rows, w_cols = g.ws(z_rows, model.hp.truncation), g.ws(z_cols, model.hp.truncation)
            layer = torch.arange(g.num_ws, device=model.device)[None, :, None]
            mixed = torch.where(layer < coarse, w_rows.repeat_interleave(cols, 0)[:, None],
                                w_cols.repeat(rows, 1)[:, None])
            cells = g.synthesis(mixed).float()
            sources_r = g.synthesis(w_rows[:, None].expand(-1, g.num_ws, -1)).float()
            sources_c = g.synthesis(w_cols[:, None].expand(-1, g.num_ws, -1)).float()
    finally:
        model.train(was_training)
    corner = torch.full_like(sources_c[:1], -1.0)
    grid = [corner, sources_c]
    for r in range(rows):
        grid += [sources_r[r:r + 1], cells[r * cols:(r + 1) * cols]]
    return torch.cat(grid)


@hookimpl
def register_models(register: Callable[..., Any]) -> None:
    """Register the small StyleGAN."""
    register(StyleGAN)
