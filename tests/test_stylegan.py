"""The StyleGAN2-style built-in: exact resume, truncation, the running w average and the style-mixing grid."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganzoo
from ganzoo.testing import assert_same_state, tiny_batch
from ganzoo.harness import TrainOptions, train
from ganzoo_builtin.stylegan import style_mix_grid

TINY = {"g_channels": 4, "d_channels": 4, "latent_dim": 8, "w_dim": 8, "mapping_layers": 2}


def build(**extra) -> ganzoo.GenerativeModel:
    torch.manual_seed(0)
    return ganzoo.create_model("stylegan", image_shape=(1, 28, 28), **{**TINY, **extra})


def _options(out: Path, steps: int, **kw) -> TrainOptions:
    sets = [f"stylegan.{k}={v}" for k, v in TINY.items()]
    return TrainOptions(model="stylegan", steps=steps, batch_size=8, seed=0, out=str(out), device="cpu",
                        overrides=[*sets, "stylegan.ema_half_life=2", "stylegan.r1_every=2",
                                   "train.sample_every=0", "train.checkpoint_every=3"], **kw)


def test_resumed_run_equals_an_uninterrupted_one_bit_for_bit(tmp_path: Path) -> None:
    straight = train(_options(tmp_path / "a", 6), quiet=True)
    train(_options(tmp_path / "b", 3), quiet=True)
    resumed = train(_options(tmp_path / "b", 6, resume=True), quiet=True)
    a, b = (torch.load(s.checkpoint, weights_only=True)["state"] for s in (straight, resumed))
    assert "G.w_avg" in a["networks"] and any(k.startswith("ema.G.") for k in a["networks"])
    assert_same_state(a, b)


def test_w_avg_moves_in_training_only_and_truncation_zero_gives_the_average_image() -> None:
    model = build()
    assert torch.count_nonzero(model.G.w_avg) == 0
    model.sample(4, generator=torch.Generator().manual_seed(0))
    assert torch.count_nonzero(model.G.w_avg) == 0
    model.train_step(tiny_batch((1, 28, 28), 4), 0)
    assert torch.count_nonzero(model.G.w_avg) > 0
    model.hp.truncation = 0.0
    images = model.sample(4, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(images, images[:1].expand_as(images), atol=1e-6)
    model.hp.truncation = 1.0
    images = model.sample(4, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(images, images[:1].expand_as(images), atol=1e-3)


def test_style_mix_grid_takes_coarse_styles_from_rows_and_fine_from_columns() -> None:
    model = build()
    rows, cols, n = 2, 3, model.G.num_ws
    grid = style_mix_grid(model, rows, cols, seed=5)
    assert grid.shape == ((rows + 1) * (cols + 1), 1, 28, 28) and torch.equal(grid[0], torch.full_like(grid[0], -1))
    all_rows, all_cols = style_mix_grid(model, rows, cols, 5, coarse=n), style_mix_grid(model, rows, cols, 5, coarse=0)
    for r in range(rows):
        row_source = grid[(r + 1) * (cols + 1)]
        for c in range(cols):
            cell = (r + 1) * (cols + 1) + 1 + c
            torch.testing.assert_close(all_rows[cell], row_source)
            torch.testing.assert_close(all_cols[cell], grid[1 + c])
            assert not torch.allclose(grid[cell], row_source) and not torch.allclose(grid[cell], grid[1 + c])


def test_sample_cli_draws_the_style_mixing_grid_and_applies_truncation(tmp_path: Path, capsys) -> None:
    import numpy as np
    from PIL import Image

    from ganzoo.cli import main
    from ganzoo.commands.sample import STYLE_MIX_COLS, STYLE_MIX_ROWS

    train(_options(tmp_path / "run", 3), quiet=True)
    run = str(tmp_path / "run")
    assert main(["sample", run, "--style-mix", "--out", str(tmp_path / "mix.png")]) == 0
    assert "style mixing" in capsys.readouterr().out
    width, height = Image.open(tmp_path / "mix.png").size
    assert width >= (STYLE_MIX_COLS + 1) * 28 and height >= (STYLE_MIX_ROWS + 1) * 28
    for psi in ("0", "1"):
        assert main(["sample", run, "--truncation", psi, "--n", "4", "--out", str(tmp_path / f"t{psi}.npz")]) == 0
    zero, one = (np.load(tmp_path / f"t{psi}.npz")["images"] for psi in ("0", "1"))
    assert (zero == zero[:1]).all() and not (one == one[:1]).all()
    assert main(["sample", "dcgan", "--pretrained", "--style-mix", "--out", str(tmp_path / "no.png")]) != 0
    assert "has no style mixing" in capsys.readouterr().err
    assert main(["sample", "dcgan", "--pretrained", "--truncation", "0.7", "--out", str(tmp_path / "no.png")]) != 0
    assert "has no truncation trick" in capsys.readouterr().err


def test_modulated_conv_equals_the_per_sample_modulated_weight() -> None:
    import math

    import torch.nn.functional as F

    from ganzoo_builtin.stylegan import ModulatedConv

    torch.manual_seed(0)
    conv = ModulatedConv(5, 3, 3, 4, noise_size=(6, 6)).eval()
    x, w = torch.randn(2, 5, 6, 6), torch.randn(2, 4)
    styles = conv.affine(w)
    weight = conv.weight[None] * conv.scale * styles[:, None, :, None, None]
    weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    ref = torch.cat([F.conv2d(x[i:i + 1], weight[i], padding=1) for i in range(2)])
    ref = F.leaky_relu(ref + conv.bias[None, :, None, None], 0.2) * math.sqrt(2)
    torch.testing.assert_close(conv(x, w), ref, rtol=1e-4, atol=1e-5)


def test_minibatch_std_lets_the_discriminator_see_the_batch_spread() -> None:
    from ganzoo_builtin.stylegan import MinibatchStd

    same = torch.randn(1, 3, 4, 4).expand(8, -1, -1, -1)
    out = MinibatchStd(4)(same)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], same) and out[:, 3].abs().max() < 1e-3
    varied = torch.randn(6, 3, 4, 4)  # 6 samples, groups of 4: falls back to groups of 3
    assert (MinibatchStd(4)(varied)[:, 3] > 0.5).all()
    model = build(mbstd_group=4)
    x = torch.randn(4, 1, 28, 28)
    alone, mixed = model.discriminate(x, None), model.discriminate(torch.cat([x[:1], x[:1] * 0, x[2:]]), None)
    assert not torch.allclose(alone[0], mixed[0])  # sample 0's logit depends on its group
    plain = build(mbstd_group=0)
    assert torch.allclose(plain.discriminate(x, None)[:1], plain.discriminate(x[:1], None))


def test_mapping_lr_mul_scales_the_mapping_networks_rate_only() -> None:
    model = build(mapping_lr_mul=0.0)
    mapping = {k: v.clone() for k, v in model.G.mapping.state_dict().items()}
    const = model.G.const.detach().clone()
    model.train_step(tiny_batch((1, 28, 28), 4), 1)
    assert all(torch.equal(v, model.G.mapping.state_dict()[k]) for k, v in mapping.items())
    assert not torch.equal(const, model.G.const)
    groups = build(mapping_lr_mul=0.01).optimizers["G"].param_groups
    assert sorted(g["lr"] for g in groups) == [pytest.approx(2e-5), pytest.approx(2e-3)]


def test_style_mix_grid_splits_coarse_and_fine_at_a_resolution_boundary() -> None:
    model = build()
    assert (model.G.num_ws, model.G.num_coarse) == (5, 3)  # 7×7 + 14×14 coarse, 28×28 fine
    torch.testing.assert_close(style_mix_grid(model, 2, 2, 1), style_mix_grid(model, 2, 2, 1, coarse=3))
    g32 = ganzoo.create_model("stylegan", image_shape=(1, 32, 32), **TINY).G
    assert (g32.num_ws, g32.num_coarse) == (7, 5)
