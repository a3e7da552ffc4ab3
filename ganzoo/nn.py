"""Building blocks for plugin authors: conv stacks sized from the image shape, label conditioning, norms, init.

The built-in models are made of these; a plugin can be too::

    from ganzoo.nn import ConvDecoder, ConvEncoder, apply_spectral_norm, init_dcgan_weights

    self.G = nn.Sequential(ConvDecoder(latent_dim, image_shape, 32), nn.Tanh())
    encoder = ConvEncoder(image_shape, 32, norm="spectral")
    self.D = nn.Sequential(encoder, nn.Linear(encoder.out_features, 1))
    self.apply(init_dcgan_weights)      # initialise first ...
    apply_spectral_norm(self.D)         # ... then normalise: initialising afterwards would be lost

Sizes come from ``image_shape`` through :func:`conv_plan` (28 → 7×7 base and two 2× stages, 32 → 4×4 and three,
64 → 4×4 and four), so 1×28×28, 1×32×32, 3×32×32 and 3×64×64 all work with the same code.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from ganzoo.errors import ConfigError, PluginError

__all__ = [
    "NORMS", "ConvDecoder", "ConvEncoder", "ImagePool", "LabelEmbedding", "activation", "apply_spectral_norm",
    "concat_one_hot", "conv_plan", "init_dcgan_weights", "mlp", "norm_layer", "one_hot_maps", "resolve_norm",
]

#: Normalisations a conv stack can use. ``layer`` normalises each sample over (C, H, W), so it suits a gradient
#: penalty; ``spectral`` puts no normalisation layer and expects :func:`apply_spectral_norm` on the network.
NORMS = ("batch", "layer", "spectral", "none")

# The layers that carry a weight matrix worth normalising or initialising.
_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def conv_plan(image_shape: tuple[int, int, int]) -> tuple[int, tuple[int, int]]:
    """The number of 2× stages and the base size (h, w) for an image: 28 → 2, (7, 7); 32 → 3, (4, 4); 64 → 4, (4, 4).

    Halves the size while it stays even and at least 4, the same number of times for height and width.
    """
    _, h, w = image_shape

    def halvings(size: int) -> int:
        k = 0
        while size % 2 == 0 and size // 2 >= 4:
            size //= 2
            k += 1
        return k

    stages = min(halvings(h), halvings(w))
    if stages == 0:
        raise ConfigError(f"image size {h}×{w} cannot be halved to at least 4×4: the convolutional models need "
                          "even sizes of 8 or more (for example 28, 32 or 64); resize the data set or use "
                          "an MLP model such as 'gan'")
    return stages, (h >> stages, w >> stages)


def mlp(sizes: list[int], act: nn.Module, dropout: float = 0.0, batch_norm: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with ``act`` (and optional BatchNorm before it, dropout after) between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = i < len(sizes) - 2
        layers.append(nn.Linear(a, b, bias=not (hidden and batch_norm)))
        if hidden:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(act)
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A 2-D normalisation layer: BatchNorm, per-sample layer norm (GroupNorm with one group) or identity."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind in ("spectral", "none"):
        return nn.Identity()
    raise ConfigError(f"unknown normalisation {kind!r}; choose one of {', '.join(NORMS)}")


def _has_norm_layer(kind: str) -> bool:
    """True when :func:`norm_layer` follows the conv with a layer that has its own shift (so the conv needs no bias)."""
    return kind in ("batch", "layer")


def resolve_norm(norm: str, per_sample: bool) -> str:
    """A discriminator's normalisation choice: ``auto`` is BatchNorm, or layer norm when ``per_sample`` is True.

    Pass the loss's ``per_sample_critic``: a gradient penalty is taken per sample, which batch statistics would
    mix (Gulrajani et al. 2017, §4). Any other choice (one of :data:`NORMS`) is returned as it is.
    """
    if norm != "auto":
        return norm
    return "layer" if per_sample else "batch"


def activation(kind: str) -> nn.Module:
    """``relu`` or ``leaky`` (LeakyReLU with slope 0.2, as in DCGAN's discriminator)."""
    if kind not in ("relu", "leaky"):
        raise ConfigError(f"unknown activation {kind!r}; choose 'relu' or 'leaky'")
    return nn.ReLU() if kind == "relu" else nn.LeakyReLU(0.2)


class ConvEncoder(nn.Module):
    """Image → features: one stride-2 conv per stage (``width``·2^i channels), then flattened.

    The first stage has no normalisation (as in DCGAN); ``extra_conv`` adds a stride-1 conv at the base size
    (as in the Keras ACGAN discriminator). ``out_features`` is the width of the flattened output. With
    ``norm="spectral"`` call :func:`apply_spectral_norm` on the network once its weights are initialised.
    """

    def __init__(self, image_shape: tuple[int, int, int], width: int, *, in_channels: int | None = None,
                 kernel: int = 4, norm: str = "batch", act: str = "leaky", dropout: float = 0.0,
                 extra_conv: bool = False) -> None:
        """An encoder of ``image_shape`` images (``in_channels`` when extra channels are concatenated) with base
        ``width``, conv ``kernel``, ``norm`` (one of :data:`NORMS`), ``act`` and ``dropout``."""
        super().__init__()
        stages, (bh, bw) = conv_plan(image_shape)
        channels = in_channels if in_channels is not None else image_shape[0]
        pad = (kernel - 1) // 2 if kernel % 2 else kernel // 2 - 1  # halves even sizes exactly (k3 p1, k4 p1)
        layers: list[nn.Module] = []
        widths = [width * 2 ** i for i in range(stages + int(extra_conv))]
        for i, out in enumerate(widths):
            stride = 2 if i < stages else 1
            k, p = (kernel, pad) if stride == 2 else (3, 1)
            layers.append(nn.Conv2d(channels, out, k, stride, p, bias=(i == 0 or not _has_norm_layer(norm))))
            if i > 0:
                layers.append(norm_layer(norm, out))
            layers.append(activation(act))
            if dropout:
                layers.append(nn.Dropout(dropout))
            channels = out
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        self.out_features = channels * bh * bw

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Flattened features ``(N, out_features)``."""
        return self.body(images)


class ConvDecoder(nn.Module):
    """Vector → image-shaped output (before the output activation), doubling the size at every stage.

    A bias-free linear projection to ``width``·2^(stages-1) channels at the base size, then per stage either a
    4×4 stride-2 transposed conv (``mode="transposed"``, DCGAN; the last one emits the image channels) or
    nearest upsampling followed by a 3×3 conv (``mode="upsample"``, the Keras ACGAN; a final 3×3 conv emits the
    image channels). Channels halve at every stage, so the last hidden layer has ``width`` channels.
    """

    def __init__(self, in_features: int, image_shape: tuple[int, int, int], width: int, *,
                 mode: str = "transposed", act: str = "relu", norm: str = "batch") -> None:
        """A decoder from ``in_features`` to ``image_shape`` with ``width`` channels in its last hidden layer,
        upsampling by ``mode`` (transposed or upsample), with ``act`` and ``norm`` between the stages."""
        super().__init__()
        stages, (bh, bw) = conv_plan(image_shape)
        out_channels = image_shape[0]
        bias = not _has_norm_layer(norm)
        widths = [width * 2 ** (stages - 1 - i) for i in range(stages)]
        layers: list[nn.Module] = [nn.Linear(in_features, widths[0] * bh * bw, bias=bias),
                                   nn.Unflatten(1, (widths[0], bh, bw)), norm_layer(norm, widths[0]),
                                   activation(act)]
        if mode == "transposed":
            for i in range(stages):
                last = i == stages - 1
                out = out_channels if last else widths[i + 1]
                layers.append(nn.ConvTranspose2d(widths[i], out, 4, 2, 1, bias=last or bias))
                if not last:
                    layers += [norm_layer(norm, out), activation(act)]
        elif mode == "upsample":
            channels = widths[0]
            for out in widths:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                           nn.Conv2d(channels, out, 3, 1, 1, bias=bias), norm_layer(norm, out), activation(act)]
                channels = out
            layers.append(nn.Conv2d(channels, out_channels, 3, 1, 1))
        else:
            raise ConfigError(f"unknown decoder mode {mode!r}; choose 'transposed' or 'upsample'")
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image-shaped pre-activation output ``(N, C, H, W)``."""
        return self.body(x)


# -- label conditioning ---------------------------------------------------------------------------------------
def concat_one_hot(x: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """``x`` (N, D) with the one-hot label appended (N, D + K); ``x`` unchanged when ``labels`` is None."""
    if labels is None:
        return x
    return torch.cat([x, nn.functional.one_hot(labels, num_classes).to(x.dtype)], dim=1)


def one_hot_maps(labels: torch.Tensor, num_classes: int, height: int, width: int,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The one-hot label repeated into ``num_classes`` constant image channels ``(N, K, H, W)``."""
    onehot = nn.functional.one_hot(labels, num_classes).to(dtype)
    return onehot[:, :, None, None].expand(-1, -1, height, width)


class LabelEmbedding(nn.Module):
    """Noise conditioned on a label: z ⊙ embedding(label), a learned vector per class (the Keras ACGAN's input).

    Its one parameter, ``weight`` (K, dim), is drawn from N(0, 1) as ``torch.nn.Embedding`` draws it.
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        """One learned ``dim``-vector per class of ``num_classes``."""
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, dim))
        nn.init.normal_(self.weight)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``z`` (N, dim) scaled element-wise by the embedding of each label (N,)."""
        return nn.functional.embedding(labels, self.weight) * z


# -- initialisation and spectral normalisation ----------------------------------------------------------------
def _spectrally_normalised(module: nn.Module) -> bool:
    return parametrize.is_parametrized(module, "weight") or hasattr(module, "weight_orig")


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights from N(0, 0.02), BatchNorm weights from N(1, 0.02), zero biases.

    Use it as ``model.apply(init_dcgan_weights)``, before :func:`apply_spectral_norm`.
    """
    if isinstance(module, _WEIGHTED):
        if _spectrally_normalised(module):
            raise PluginError(f"{type(module).__name__} is already spectrally normalised, so initialising its weight "
                              "would be lost: call init_dcgan_weights before apply_spectral_norm")
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def apply_spectral_norm(network: nn.Module) -> nn.Module:
    """Spectrally normalise every conv and linear weight of ``network`` (in place; returned for chaining).

    Run weight initialisation first: afterwards the weight is recomputed from its normalised original.
    """
    for module in list(network.modules()):  # listed first: normalising adds sub-modules
        if isinstance(module, _WEIGHTED) and not _spectrally_normalised(module):
            nn.utils.parametrizations.spectral_norm(module)
    return network


class ImagePool(nn.Module):
    """A history of generated images that a discriminator trains on (Shrivastava et al. 2017; CycleGAN's pool).

    :meth:`query` returns a batch of the same size: while the pool fills, the new images themselves (each kept);
    then each image, with probability one half, is swapped for a random stored one (the stored slot takes the new
    image). The pool is buffers, so it is saved and resumed with the model; its randomness comes from torch's global
    generator (which the harness saves). Keep pools in a ``nn.ModuleDict`` named ``image_pools`` (one of
    :data:`ganzoo.model.BOOKKEEPING`), so they are not counted or wrapped as networks.
    """

    def __init__(self, size: int, image_shape: tuple[int, int, int]) -> None:
        """A pool of up to ``size`` images of ``image_shape`` (0: no pool, :meth:`query` returns its input)."""
        super().__init__()
        self.size = int(size)
        self.register_buffer("images", torch.zeros(self.size, *image_shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch for the discriminator from the new (detached) ``images``, the pool updated."""
        images = images.detach()
        if self.size == 0 or images.shape[0] == 0:
            return images
        out = images.clone()
        for i in range(images.shape[0]):
            filled = int(self.count)
            if filled < self.size:
                self.images[filled] = images[i].to(self.images.dtype)
                self.count += 1
            elif bool(torch.rand(()) < 0.5):
                j = int(torch.randint(self.size, ()))
                out[i] = self.images[j].to(out.dtype)
                self.images[j] = images[i].to(self.images.dtype)
        return out
