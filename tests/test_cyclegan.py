"""The CycleGAN built-in and the translation capability of the contract: resume, pools, domains, inputs, grids."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

import ganzoo
from ganzoo.cli import main
from ganzoo.errors import ConfigError
from ganzoo.harness import TrainOptions, train
from ganzoo.losses import create_loss
from ganzoo.nn import ImagePool
from ganzoo.sampling import TRANSLATION_ROWS, grid_size
from ganzoo.testing import assert_same_state, check_model
from ganzoo.translation import TranslationModel, domain_index

TINY = {"g_channels": 4, "d_channels": 4, "g_blocks": 1, "pool_size": 3}
TWO_DIGITS = "classes=[3,8]"


def _options(out: Path, steps: int, **kw) -> TrainOptions:
    sets = [f"cyclegan.{k}={v}" for k, v in TINY.items()]
    return TrainOptions(model="cyclegan", steps=steps, batch_size=8, seed=0, out=str(out), device="cpu",
                        dataset_options={"classes": [3, 8]},
                        overrides=[*sets, "cyclegan.ema_half_life=2", "train.sample_every=0",
                                   "train.checkpoint_every=3"], **kw)


def test_resumed_run_equals_an_uninterrupted_one_bit_for_bit_pools_included(tmp_path: Path) -> None:
    straight = train(_options(tmp_path / "a", 6), quiet=True)
    train(_options(tmp_path / "b", 3), quiet=True)
    resumed = train(_options(tmp_path / "b", 6, resume=True), quiet=True)
    a, b = (torch.load(s.checkpoint, weights_only=True)["state"] for s in (straight, resumed))
    assert int(a["networks"]["image_pools.B.count"]) == 3  # the pool filled and then swapped images
    assert any(k.startswith("ema.G_AB.") for k in a["networks"])
    assert_same_state(a, b)


def test_the_pool_fills_first_then_swaps_about_half_of_a_batch() -> None:
    torch.manual_seed(0)
    pool = ImagePool(4, (1, 2, 2))
    first = torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 1, 2, 2)
    assert torch.equal(pool.query(first), first) and int(pool.count) == 4
    new = (100 + torch.arange(200.0)).reshape(200, 1, 1, 1).expand(200, 1, 2, 2)
    out = pool.query(new)[:, 0, 0, 0]
    swapped = out != new[:, 0, 0, 0]
    assert 60 < int(swapped.sum()) < 140  # each image is swapped for a stored one with probability one half
    earlier = [float(v) < 4 or float(v) < 100 + i for i, v in enumerate(out) if swapped[i]]
    assert all(earlier)  # what comes back was stored before: an image of the first batch or an earlier new one
    assert int(pool.count) == 4
    assert torch.equal(ImagePool(0, (1, 2, 2)).query(new), new)


def test_least_squares_loss_matches_its_formula() -> None:
    loss = create_loss("least-squares")
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    assert float(loss.d_loss(real, fake)) == pytest.approx(0.5 * (0.5 + 2.0))
    assert float(loss.g_loss(fake)) == pytest.approx((1 + 1) / 2)


@pytest.mark.parametrize("classes", ["[3]", "[0,1,2]"])
def test_data_without_exactly_two_classes_fails_before_training_and_leaves_no_run(
        tmp_path: Path, classes: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["train", "cyclegan", "--steps", "2", "--data-option", f"classes={classes}", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "translates between two domains" in err and "classes=[3,8]" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_sampling_from_noise_is_refused_with_the_way_to_translate() -> None:
    model = ganzoo.create_model("cyclegan", **TINY)
    with pytest.raises(ConfigError, match="does not sample from noise.*translate"):
        model.sample(4)


def test_translate_checks_its_inputs_for_every_model() -> None:
    model = ganzoo.create_model("cyclegan", **TINY)
    good = torch.zeros(2, 1, 28, 28)
    assert model.translate(good, 0).shape == good.shape and model.translate(good[:0], 1).shape == (0, 1, 28, 28)
    with pytest.raises(ConfigError, match="source domain must be 0"):
        model.translate(good, 2)
    with pytest.raises(ConfigError, match="translates 1×28×28 images"):
        model.translate(torch.zeros(2, 3, 28, 28), 0)
    with pytest.raises(ConfigError, match="floating tensor"):
        model.translate(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), 0)
    with pytest.raises(ConfigError, match="NaN"):
        model.translate(torch.full((2, 1, 28, 28), float("nan")), 0)
    dcgan = ganzoo.create_model("dcgan", g_channels=4, d_channels=4)
    with pytest.raises(ConfigError, match="'dcgan' is not a translation model"):
        type(model).translate(dcgan, good, 0)  # the check runs before any plugin code


def test_domains_are_named_by_letter_number_or_class_name() -> None:
    assert [domain_index(x, ["horse", "zebra"]) for x in ("A", "b", "0", 1, "zebra")] == [0, 1, 0, 1, 1]
    with pytest.raises(ConfigError, match="domain 'C' does not exist.*'horse', 'zebra'"):
        domain_index("C", ["horse", "zebra"])


def test_training_grids_show_the_six_translation_rows(tmp_path: Path) -> None:
    opts = _options(tmp_path / "run", 2)
    opts.overrides[-2] = "train.sample_every=2"
    summary = train(opts, quiet=True)
    png = Image.open(summary.run_dir / "samples" / "step-00000002.png")
    columns = 64 // len(TRANSLATION_ROWS)
    assert png.size == grid_size((1, 28, 28), columns * len(TRANSLATION_ROWS), columns)


class Pix2Grey(TranslationModel):
    """The toy translator of docs/plugins.md ("Image-to-image models"), as written there."""

    name = "pix2grey"
    defaults = {"lr": 1e-3, "batch_size": 16}
    sample_networks = ("to_b", "to_a")

    def __init__(self, hparams=None, image_shape=(3, 28, 28), num_classes=2):
        super().__init__(hparams, image_shape, num_classes)
        c = self.image_shape[0]
        self.to_b, self.to_a = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.optimizers = {"G": torch.optim.Adam([*self.to_b.parameters(), *self.to_a.parameters()], self.hp.lr)}

    def train_step(self, batch, step):
        a, _ = self.split_domains(batch)
        back = torch.tanh(self.to_a(torch.tanh(self.to_b(a))))
        loss = (back - a).abs().mean()          # a cycle loss alone, for brevity
        self.optimize("G", loss)
        return {"cycle": loss.detach()}

    def translate(self, images, source_domain):
        net = self.to_b if source_domain == 0 else self.to_a
        with torch.no_grad():
            return torch.tanh(net(images))


def test_the_documented_toy_translator_passes_the_conformance_check() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()
    assert "loss = (back - a).abs().mean()          # a cycle loss alone, for brevity" in doc
    report = check_model(Pix2Grey, [(1, 28, 28), (3, 32, 32)])
    assert "sample" in report.passed[(3, 32, 32)] and "save_restore" in report.passed[(3, 32, 32)]
