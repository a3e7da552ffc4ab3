"""DiffAugment (ganzoo.augment): each policy does what the paper says, per image, differentiably, in any dtype."""
from __future__ import annotations

import pytest
import torch

from ganzoo.augment import POLICIES, Policy, color, cutout, diff_augment, parse_policy, translation
from ganzoo.errors import ConfigError

ALL = ("color", "translation", "cutout")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bright_pixel(n: int, h: int = 28, w: int = 28, at: tuple[int, int] = (14, 14)) -> torch.Tensor:
    x = torch.zeros(n, 1, h, w)
    x[:, :, at[0], at[1]] = 1.0
    return x


def box(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """The bounding box (top, left, height, width) of the True pixels of a 2-d mask."""
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    return int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


# ---- shapes, dtypes, gradients ------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", [("color",), ("translation",), ("cutout",), ALL, ("cutout", "color")])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 7, 9), (4, 3, 3)])
def test_shape_and_dtype_are_kept(policy, shape):
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        x = torch.rand(5, *shape, generator=gen()).to(dtype)
        y = diff_augment(x, policy, gen(1))
        assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
        assert torch.isfinite(y.float()).all()


@pytest.mark.parametrize("name", ALL)
def test_the_gradient_reaches_the_input(name):
    x = (torch.rand(8, 3, 16, 16, generator=gen()) * 2 - 1).requires_grad_()
    y = diff_augment(x, (name,), gen(1))
    (y * torch.randn(y.shape, generator=gen(2))).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert (x.grad.flatten(1).abs().sum(1) > 0).all(), "every image gets a gradient"


def test_the_gradient_of_a_move_is_the_move_back():
    """translation and cutout only move or drop pixels: d(sum out)/dx is 1 where a pixel survives, 0 elsewhere."""
    x = torch.rand(16, 2, 12, 12, generator=gen()).requires_grad_()
    y = diff_augment(x, ("translation", "cutout"), gen(3))
    y.sum().backward()
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}
    assert x.grad.sum() == (y != 0).sum()  # rand > 0 almost surely: a nonzero output pixel is a surviving input


def test_an_empty_policy_is_the_identity():
    x = torch.rand(4, 1, 8, 8)
    assert diff_augment(x, ()) is x
    assert diff_augment(x, "none") is x
    assert diff_augment(x, "") is x


# ---- translation --------------------------------------------------------------------------------------------------

def test_translation_moves_a_pixel_by_at_most_an_eighth_and_covers_the_range():
    n = 512
    y = translation(bright_pixel(n), gen())
    assert (y.flatten(1).sum(1) == 1).all() and ((y == 0) | (y == 1)).all(), "moved, not resampled or lost"
    where = y[:, 0].flatten(1).argmax(1)
    dy, dx = where // 28 - 14, where % 28 - 14
    assert dy.abs().max() <= 4 and dx.abs().max() <= 4  # int(28 / 8 + 0.5)
    assert set(dy.tolist()) == set(range(-4, 5)) and set(dx.tolist()) == set(range(-4, 5))
    assert len(set(zip(dy.tolist(), dx.tolist()))) > 60, "rows and columns are drawn independently"


def test_translation_lets_zeros_in_from_the_border():
    y = translation(torch.ones(256, 3, 16, 16), gen())  # shifts up to 2
    ones = y[:, 0] == 1
    assert ((y == 0) | (y == 1)).all()
    assert (y == y[:, :1]).all(), "all channels move together"
    for i in range(256):
        top, left, h, w = box(ones[i])
        assert ones[i].sum() == h * w, "the kept pixels form one rectangle"
        assert (top == 0 or top + h == 16) and (left == 0 or left + w == 16), "the zeros enter at one border"
        assert h >= 14 and w >= 14
    assert (ones.flatten(1).sum(1) < 256).float().mean() > 0.5, "most images are shifted"


def test_translation_drops_what_leaves_the_image():
    y = translation(bright_pixel(256, at=(0, 0)), gen())
    kept = y.flatten(1).sum(1)
    assert 0 < kept.sum() < 256  # shifted up or left: gone; down and right: kept


# ---- cutout -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,side", [((1, 28, 28), (14, 14)), ((3, 32, 32), (16, 16)), ((2, 9, 13), (5, 7))])
def test_cutout_zeros_one_rectangle_of_half_the_size_per_image(shape, side):
    n = 400
    y = cutout(torch.ones(n, *shape), gen())
    zero = y[:, 0] == 0
    assert (y == y[:, :1]).all(), "the same rectangle in every channel"
    full = 0
    for i in range(n):
        assert zero[i].any(), "every image loses pixels"
        top, left, h, w = box(zero[i])
        assert zero[i].sum() == h * w, "one rectangle"
        # its centre lies in the image, so at least half of each side remains; a clipped side touches the border
        assert (side[0] + 1) // 2 <= h <= side[0] and (side[1] + 1) // 2 <= w <= side[1]
        assert h == side[0] or top == 0 or top + h == shape[1]
        assert w == side[1] or left == 0 or left + w == shape[2]
        full += (h, w) == side
    assert full > n // 5, "the whole rectangle fits in many images"
    corners = {box(zero[i])[:2] for i in range(n)}
    assert len(corners) > 30, "the place differs between images"


# ---- colour -------------------------------------------------------------------------------------------------------

def test_color_shifts_the_brightness_of_each_image_differently():
    y = color(torch.zeros(64, 1, 8, 8), gen())
    per_image = y.flatten(1)
    assert (per_image == per_image[:, :1]).all(), "a constant image stays constant"
    level = per_image[:, 0]
    assert level.min() >= -0.5 and level.max() <= 0.5
    assert level.unique().numel() == 64 and level.std() > 0.2  # U(-0.5, 0.5): std 0.29


def test_color_on_one_channel_is_an_affine_map_per_image():
    """Saturation is the identity on one channel, so each image becomes c·(x - mean) + mean + b, c in [0.5, 1.5]."""
    x = torch.rand(64, 1, 10, 10, generator=gen(), dtype=torch.float64)
    y = color(x, gen(1))
    dx = x - x.mean((1, 2, 3), keepdim=True)
    dy = y - y.mean((1, 2, 3), keepdim=True)
    c = (dy.flatten(1) / dx.flatten(1))
    assert torch.allclose(c, c[:, :1].expand_as(c), atol=1e-9)
    assert c.min() >= 0.5 and c.max() <= 1.5 and c[:, 0].std() > 0.1
    b = y.mean((1, 2, 3)) - x.mean((1, 2, 3))
    assert b.abs().max() <= 0.5 and b.std() > 0.1


def test_color_scales_the_saturation_of_a_colour_image():
    x = torch.rand(256, 3, 6, 6, generator=gen(), dtype=torch.float64)
    y = color(x, gen(1))
    # the spread across channels is scaled by saturation × contrast, each per image, in [0, 2] × [0.5, 1.5]
    sx = (x - x.mean(1, keepdim=True)).flatten(1)
    sy = (y - y.mean(1, keepdim=True)).flatten(1)
    k = sy / sx
    assert torch.allclose(k, k[:, :1].expand_as(k), atol=1e-7)
    assert k.min() >= 0 and k.max() <= 3 and k[:, 0].max() > 1.5 and k[:, 0].min() < 0.25
    grey = color(x[:, :1].expand(-1, 3, -1, -1), gen(1))
    assert torch.allclose(grey, grey[:, :1].expand_as(grey)), "a grey image stays grey"


# ---- randomness ---------------------------------------------------------------------------------------------------

def test_the_parameters_differ_within_a_batch():
    x = bright_pixel(1).expand(32, 3, 28, 28).contiguous()
    y = diff_augment(x, ALL, gen())
    assert len({tuple(v.tolist()) for v in y.flatten(1)}) == 32


def test_the_same_seed_gives_the_same_output():
    x = torch.rand(16, 3, 20, 20, generator=gen())
    assert torch.equal(diff_augment(x, ALL, gen(5)), diff_augment(x, ALL, gen(5)))
    assert not torch.equal(diff_augment(x, ALL, gen(5)), diff_augment(x, ALL, gen(6)))
    torch.manual_seed(7)
    a = diff_augment(x, ALL)
    torch.manual_seed(7)
    assert torch.equal(a, diff_augment(x, ALL)), "the default draws from torch's global RNG, seeded by the harness"
    assert not torch.equal(a, diff_augment(x, ALL))


def test_the_draws_do_not_depend_on_the_dtype():
    x = torch.rand(16, 3, 20, 20, generator=gen())
    y32 = diff_augment(x, ALL, gen(5))
    y64 = diff_augment(x.double(), ALL, gen(5))
    assert torch.allclose(y32.double(), y64, atol=1e-5)


# ---- mixed precision ----------------------------------------------------------------------------------------------

def test_bf16_autocast_on_cpu():
    real = (torch.rand(8, 1, 28, 28) * 2 - 1).requires_grad_()
    layer = torch.nn.Linear(16, 28 * 28)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fake = torch.tanh(layer(torch.randn(8, 16))).view(8, 1, 28, 28)
        assert fake.dtype == torch.bfloat16
        a_real, a_fake = diff_augment(real, ALL), diff_augment(fake, ALL)
        assert a_real.dtype == torch.float32 and a_fake.dtype == torch.bfloat16
        loss = a_real.float().square().mean() + a_fake.float().square().mean()
    loss.backward()
    assert real.grad.abs().sum() > 0 and layer.weight.grad.abs().sum() > 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (pytest -m cuda on one)")
def test_cuda_with_fp16_autocast():
    x = torch.rand(16, 3, 32, 32, device="cuda").requires_grad_()
    layer = torch.nn.Conv2d(3, 3, 1).cuda()
    torch.cuda.manual_seed(0)
    with torch.autocast("cuda", dtype=torch.float16):
        h = layer(x)
        y = diff_augment(h, ALL)
        assert y.dtype == torch.float16 and y.device == x.device
        ref = diff_augment(x, ALL)
        assert ref.dtype == torch.float32
    y.float().sum().backward()
    assert x.grad.abs().sum() > 0
    torch.cuda.manual_seed(3)
    a = diff_augment(x.detach(), ALL)
    torch.cuda.manual_seed(3)
    assert torch.equal(a, diff_augment(x.detach(), ALL)), "drawn from the CUDA RNG, seeded"
    g = torch.Generator("cuda").manual_seed(1)
    assert diff_augment(x.detach(), ALL, g).device == x.device


# ---- parsing and validation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,names", [
    ("translation,cutout", ("translation", "cutout")),
    (" color , Translation,cutout ", ("color", "translation", "cutout")),
    ("cutout,color", ("cutout", "color")),
    ("", ()), ("none", ()), (" None ", ()),
])
def test_parse_policy(text, names):
    assert parse_policy(text) == names


def test_parse_policy_names_the_bad_name_and_the_allowed_ones():
    with pytest.raises(ConfigError) as err:
        parse_policy("translation,cutuot")
    message = str(err.value)
    assert "'cutuot'" in message and "color, cutout, translation" in message and "Did you mean 'cutout'?" in message
    with pytest.raises(ConfigError, match="'zoom'"):
        parse_policy("zoom")
    with pytest.raises(ConfigError, match="empty name"):
        parse_policy("translation,,cutout")
    with pytest.raises(ConfigError, match="'cutout' more than once"):
        parse_policy("cutout,translation,cutout")
    with pytest.raises(ConfigError, match="string"):
        parse_policy(["cutout"])  # type: ignore[arg-type]


def test_diff_augment_rejects_an_unknown_name_and_parses_a_string():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ConfigError, match="'flip'"):
        diff_augment(x, ("translation", "flip"))
    parsed = diff_augment(x, "translation, cutout", gen(1))
    assert torch.equal(parsed, diff_augment(x, ("translation", "cutout"), gen(1)))


def test_the_policies_table():
    assert set(POLICIES) == set(ALL)
    x = torch.rand(2, 3, 8, 8)
    for name, fn in POLICIES.items():
        assert fn(x, gen()).shape == x.shape, name


def test_the_policy_validator_for_a_hyperparameter():
    allowed = Policy()
    for good in ("translation,cutout", "color,translation,cutout", "none", "", "cutout"):
        assert good in allowed
    for bad in ("zoom", "cutout,cutout", "translation,", 3, None, ["cutout"]):
        assert bad not in allowed
    assert str(allowed) == "comma-separated DiffAugment policies from color, cutout, translation, or none"
    assert list(allowed) == ["color", "cutout", "translation"]
