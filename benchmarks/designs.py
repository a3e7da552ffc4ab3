"""The two source designs the harness benchmark measures, each written twice: as its own script's training loop (the
reference) and as a ganzoo plugin model that ``ganzoo.harness.train`` trains. Both sides build the very same
networks (the classes below), so only the loop differs.

- ``tf-dcgan``: the TensorFlow tutorial's DCGAN (tensorflow.org/tutorials/generative/dcgan), 1×28×28 MNIST.
- ``pytorch-gan-dcgan``: ``implementations/dcgan/dcgan.py`` of Erik Linder-Norén's PyTorch-GAN collection, MNIST
  resized to 1×32×32: the speed yardstick of issue 10.

This module is also the plugin (the hooks at the bottom): the benchmark registers it in-process with
``ganzoo.registry.host().register_plugin(designs, name=...)``, which gives ganzoo the two models and the data set
``mnist-embedded-32`` (the embedded digits resized to 32×32, as the PyTorch-GAN script's ``Resize(32)`` does).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from ganzoo import hookimpl
from ganzoo.adversarial import AdversarialModel
from ganzoo.data import ImageData, embedded_mnist

__all__ = ["LoopResult", "PytorchGanDcgan", "PytorchGanDiscriminator", "PytorchGanGenerator", "TfDcgan",
           "TfDiscriminator", "TfGenerator", "load_mnist_embedded_32", "pytorch_gan_dcgan_script",
           "register_datasets", "register_models", "tf_dcgan_script", "weights_init_normal"]

LATENT_DIM = 100


@dataclass
class LoopResult:
    """What one reference loop measured: images/s of its training loop and the last step's losses."""

    images_per_second: float
    losses: dict[str, float]


def _amp(enabled: bool) -> torch.autocast:
    """The autocast a script author adds for ``--amp`` on the CPU: bf16."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


# -- the TensorFlow tutorial's DCGAN ----------------------------------------------------------------------------
# Keras defaults carried over: LeakyReLU slope 0.3, BatchNormalization momentum 0.99 (PyTorch's 0.01) and
# epsilon 1e-3, Conv2DTranspose without bias, padding "same" (PyTorch: padding 2, output_padding 1 at stride 2).
# The weights keep PyTorch's default initialisation (Keras uses Glorot uniform): a port's usual choice.
def _keras_bn(n: int, dim: int = 2) -> nn.Module:
    return (nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d)(n, eps=1e-3, momentum=0.01)


class TfGenerator(nn.Sequential):
    """G of the TF tutorial: Dense 7·7·256 → BN → LReLU → ConvT 128 k5 s1 → … → ConvT C k5 s2 → tanh."""

    def __init__(self, latent_dim: int = LATENT_DIM, image_shape: tuple[int, int, int] = (1, 28, 28)) -> None:
        c, h, w = image_shape
        super().__init__(
            nn.Linear(latent_dim, 256 * (h // 4) * (w // 4), bias=False), _keras_bn(256 * (h // 4) * (w // 4), 1),
            nn.LeakyReLU(0.3), nn.Unflatten(1, (256, h // 4, w // 4)),
            nn.ConvTranspose2d(256, 128, 5, 1, padding=2, bias=False), _keras_bn(128), nn.LeakyReLU(0.3),
            nn.ConvTranspose2d(128, 64, 5, 2, padding=2, output_padding=1, bias=False), _keras_bn(64),
            nn.LeakyReLU(0.3),
            nn.ConvTranspose2d(64, c, 5, 2, padding=2, output_padding=1, bias=False), nn.Tanh())


class TfDiscriminator(nn.Sequential):
    """D of the TF tutorial: Conv 64 k5 s2 → LReLU → Dropout 0.3 → Conv 128 k5 s2 → LReLU → Dropout 0.3 → Dense 1."""

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28)) -> None:
        c, h, w = image_shape
        quarter = ((h + 1) // 2 + 1) // 2 * (((w + 1) // 2 + 1) // 2)  # two "same" convolutions at stride 2
        super().__init__(
            nn.Conv2d(c, 64, 5, 2, padding=2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
            nn.Conv2d(64, 128, 5, 2, padding=2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
            nn.Flatten(), nn.Linear(128 * quarter, 1))


class TfDcgan(AdversarialModel):
    """The TensorFlow tutorial's DCGAN (tensorflow.org/tutorials/generative/dcgan) as a ganzoo plugin model.

    Its networks are :class:`TfGenerator` and :class:`TfDiscriminator`; BCE from logits; Adam(1e-4) for both with
    Keras's default betas (0.9, 0.999). The tutorial trains at batch 256; the benchmark uses 64.
    """

    name = "tf-dcgan"
    defaults = {**AdversarialModel.defaults, "latent_dim": LATENT_DIM, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.9,
                "beta2": 0.999, "loss": "bce"}

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        super().__init__(hparams, image_shape, num_classes)
        self.G = TfGenerator(self.hp.latent_dim, self.image_shape)
        self.D = TfDiscriminator(self.image_shape)
        self.build_optimizers()

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Noise → images in [-1, 1]."""
        return self.G(z)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images → one logit each."""
        return self.D(images).squeeze(1)


def tf_dcgan_script(steps: int, batch_size: int = 64, amp: bool = False) -> LoopResult:
    """The TF tutorial's data pipeline and ``train_step`` written in PyTorch; trains ``steps`` steps.

    The tutorial: the whole MNIST array in memory scaled to [-1, 1] → ``Dataset.from_tensor_slices(...)
    .shuffle(60000).batch(BATCH_SIZE)`` (here a ``TensorDataset`` and ``DataLoader(shuffle=True)``); per batch one
    generator forward, D on the real and on the generated batch, both losses, and two GradientTapes, each taking its
    loss's gradient w.r.t. its own network, then both optimizers step. ``loss.backward(inputs=net.parameters())`` is
    ``tape.gradient(loss, net.trainable_variables)``: both gradients come from the same D(G(z)), before either step.
    The tutorial's batch is 256; the benchmark passes 64. The loop's time counts from the first batch drawn.
    """
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    train_images = (embedded_mnist().images.float() - 127.5) / 127.5  # (N, 1, 28, 28) in [-1, 1]
    train_dataset = DataLoader(TensorDataset(train_images), batch_size=batch_size, shuffle=True)

    generator, discriminator = TfGenerator(), TfDiscriminator()
    cross_entropy = nn.BCEWithLogitsLoss()
    generator_optimizer = torch.optim.Adam(generator.parameters(), 1e-4)
    discriminator_optimizer = torch.optim.Adam(discriminator.parameters(), 1e-4)

    def train_step(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise = torch.randn(images.size(0), LATENT_DIM)
        with _amp(amp):
            generated_images = generator(noise)
            real_output = discriminator(images)
            fake_output = discriminator(generated_images)
            gen_loss = cross_entropy(fake_output, torch.ones_like(fake_output))
            disc_loss = (cross_entropy(real_output, torch.ones_like(real_output))
                         + cross_entropy(fake_output, torch.zeros_like(fake_output)))
        generator_optimizer.zero_grad()
        discriminator_optimizer.zero_grad()
        gen_loss.backward(inputs=list(generator.parameters()), retain_graph=True)
        disc_loss.backward(inputs=list(discriminator.parameters()))
        generator_optimizer.step()
        discriminator_optimizer.step()
        return gen_loss, disc_loss

    step = seen = 0
    t0 = time.perf_counter()
    while step < steps:  # for epoch in range(EPOCHS)
        for (image_batch,) in train_dataset:
            gen_loss, disc_loss = train_step(image_batch)
            step, seen = step + 1, seen + image_batch.size(0)
            if step == steps:
                break
    seconds = time.perf_counter() - t0
    return LoopResult(seen / seconds, {"g_loss": gen_loss.item(), "d_loss": disc_loss.item()})


# -- the PyTorch-GAN collection's DCGAN -------------------------------------------------------------------------
def weights_init_normal(m: nn.Module) -> None:
    """The script's init: Conv weights from N(0, 0.02), BatchNorm weights from N(1, 0.02) and zero biases."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
        torch.nn.init.constant_(m.bias.data, 0.0)


class PytorchGanGenerator(nn.Module):
    """The script's Generator: Linear → 128·(S/4)² → BN → Upsample → Conv 128 → BN(eps 0.8) → … → Conv C → tanh."""

    def __init__(self, latent_dim: int = LATENT_DIM, img_size: int = 32, channels: int = 1) -> None:
        super().__init__()
        self.init_size = img_size // 4
        self.l1 = nn.Sequential(nn.Linear(latent_dim, 128 * self.init_size ** 2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(128),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, stride=1, padding=1),
            nn.BatchNorm2d(128, 0.8),  # the script's quirk: 0.8 lands in eps
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, stride=1, padding=1),
            nn.BatchNorm2d(64, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, channels, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Noise (N, latent) → images (N, C, S, S) in [-1, 1]."""
        out = self.l1(z)
        out = out.view(out.shape[0], 128, self.init_size, self.init_size)
        return self.conv_blocks(out)


class PytorchGanDiscriminator(nn.Module):
    """The script's Discriminator: four blocks Conv k3 s2 → LReLU → Dropout2d(0.25) (→ BN eps 0.8 from the second)
    → Linear(128·(S/16)² → 1) → sigmoid; ``sigmoid=False`` leaves the logit (for ganzoo's ``bce``)."""

    def __init__(self, img_size: int = 32, channels: int = 1, sigmoid: bool = True) -> None:
        super().__init__()

        def discriminator_block(in_filters: int, out_filters: int, bn: bool = True) -> list[nn.Module]:
            block = [nn.Conv2d(in_filters, out_filters, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(0.25)]
            if bn:
                block.append(nn.BatchNorm2d(out_filters, 0.8))
            return block

        self.model = nn.Sequential(
            *discriminator_block(channels, 16, bn=False),
            *discriminator_block(16, 32),
            *discriminator_block(32, 64),
            *discriminator_block(64, 128),
        )
        ds_size = img_size // 2 ** 4  # the height and width of the downsampled image
        self.adv_layer = nn.Sequential(nn.Linear(128 * ds_size ** 2, 1), *([nn.Sigmoid()] if sigmoid else []))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """Images → validity (N, 1): a probability, or a logit with ``sigmoid=False``."""
        out = self.model(img)
        out = out.view(out.shape[0], -1)
        return self.adv_layer(out)


class PytorchGanDcgan(AdversarialModel):
    """The PyTorch-GAN collection's DCGAN (eriklindernoren/PyTorch-GAN, implementations/dcgan/dcgan.py) as a ganzoo
    plugin model, for square images (the script: 1×32×32 MNIST).

    The script's networks and init; its D ends in a sigmoid scored by ``BCELoss``, here the logit scored by ganzoo's
    ``bce`` (the same loss; ganzoo's D loss is the sum of the real and fake terms, the script's their mean).
    Adam(2e-4, betas (0.5, 0.999)) for both, batch 64.
    """

    name = "pytorch-gan-dcgan"
    defaults = {**AdversarialModel.defaults, "latent_dim": LATENT_DIM, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5,
                "beta2": 0.999, "loss": "bce", "batch_size": 64}

    def __init__(self, hparams: Mapping[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 32, 32),
                 num_classes: int = 10) -> None:
        super().__init__(hparams, image_shape, num_classes)
        channels, size, _ = self.image_shape
        self.G = PytorchGanGenerator(self.hp.latent_dim, size, channels)
        self.D = PytorchGanDiscriminator(size, channels, sigmoid=False)
        self.G.apply(weights_init_normal)
        self.D.apply(weights_init_normal)
        self.build_optimizers()

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Noise → images in [-1, 1]."""
        return self.G(z)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images → one logit each."""
        return self.D(images).squeeze(1)


def pytorch_gan_dcgan_script(root: Path, steps: int, batch_size: int = 64, amp: bool = False) -> LoopResult:
    """The PyTorch-GAN script's data pipeline and loop, verbatim but for the autocast of ``amp``; ``steps`` steps.

    Data: torchvision ``MNIST(root)`` with per-sample ``Resize(32)``, ``ToTensor()``, ``Normalize([0.5], [0.5])``
    through ``DataLoader(batch_size=64, shuffle=True)``. Per batch: G update on D(G(z)) with "valid" targets, then
    D update on the real batch and the same G(z) detached (one generator forward). The script's per-batch print is
    left out. The loop's time counts from the first batch drawn.
    """
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.manual_seed(0)
    np.random.seed(0)
    img_size, latent_dim = 32, LATENT_DIM
    generator, discriminator = PytorchGanGenerator(latent_dim, img_size, 1), PytorchGanDiscriminator(img_size, 1)
    generator.apply(weights_init_normal)
    discriminator.apply(weights_init_normal)
    dataloader = DataLoader(
        datasets.MNIST(str(root), train=True, transform=transforms.Compose(
            [transforms.Resize(img_size), transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])),
        batch_size=batch_size, shuffle=True)
    adversarial_loss = torch.nn.BCELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    Tensor = torch.FloatTensor

    step = seen = 0
    t0 = time.perf_counter()
    while step < steps:  # for epoch in range(opt.n_epochs)
        for imgs, _ in dataloader:
            # Adversarial ground truths
            valid = Tensor(imgs.shape[0], 1).fill_(1.0)
            fake = Tensor(imgs.shape[0], 1).fill_(0.0)
            real_imgs = imgs.type(Tensor)

            #  Train Generator
            optimizer_G.zero_grad()
            z = Tensor(np.random.normal(0, 1, (imgs.shape[0], latent_dim)))
            with _amp(amp):
                gen_imgs = generator(z)
                g_loss = adversarial_loss(discriminator(gen_imgs), valid)
            g_loss.backward()
            optimizer_G.step()

            #  Train Discriminator
            optimizer_D.zero_grad()
            with _amp(amp):
                real_loss = adversarial_loss(discriminator(real_imgs), valid)
                fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
                d_loss = (real_loss + fake_loss) / 2
            d_loss.backward()
            optimizer_D.step()

            step, seen = step + 1, seen + imgs.shape[0]
            if step == steps:
                break
    seconds = time.perf_counter() - t0
    return LoopResult(seen / seconds, {"g_loss": g_loss.item(), "d_loss": d_loss.item()})


# -- the plugin ---------------------------------------------------------------------------------------------------
def load_mnist_embedded_32(root: Path | None = None, download: bool = False) -> ImageData:
    """The embedded 5,000 digits resized to 1×32×32 (bilinear, antialiased, as ``transforms.Resize(32)``)."""
    from torchvision.transforms.v2 import functional as F

    data = embedded_mnist()
    images = F.resize(data.images, [32, 32], antialias=True).contiguous()
    return ImageData("mnist-embedded-32", images, data.labels, data.num_classes, data.class_names)


@hookimpl
def register_models(register: Callable[..., None]) -> None:
    """The two designs as ganzoo models."""
    register(TfDcgan)
    register(PytorchGanDcgan)


@hookimpl
def register_datasets(register: Callable[..., None]) -> None:
    """The embedded MNIST at the PyTorch-GAN script's 32×32."""
    register("mnist-embedded-32", load_mnist_embedded_32,
             "the embedded 5,000 MNIST digits resized to 1×32×32 (the PyTorch-GAN DCGAN's images)")
