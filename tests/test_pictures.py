"""The pictures: the latent manifold grid, principal-direction grids, slerp walks and the progress animation."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import ganzoo
from ganzoo import pictures
from ganzoo.cli import main
from ganzoo.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Recorder:
    """Wraps a model's decode_latents to keep the codes and labels it was given."""

    def __init__(self, model) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        self.inner = model.decode_latents
        model.decode_latents = self

    def __call__(self, z, labels=None):
        self.calls.append((z.detach().clone(), None if labels is None else labels.clone()))
        return self.inner(z, labels)


def test_a_2d_latent_grid_is_the_tutorials_manifold() -> None:
    vae = ganzoo.create_model("vae", image_shape=(1, 28, 28), latent_dim=2)
    seen = Recorder(vae)
    images, nrow, how = pictures.latent_grid(vae, 15)
    assert images.shape == (225, 1, 28, 28) and nrow == 15 and "2-D latent" in how
    z = torch.cat([c[0] for c in seen.calls])
    q = torch.special.ndtri(torch.tensor([0.05, 0.95]))
    assert torch.allclose(z[0], torch.tensor([q[0], q[1]]), atol=1e-5)  # top-left: z1 lowest, z2 highest
    assert torch.allclose(z[-1], torch.tensor([q[1], q[0]]), atol=1e-5)  # bottom-right
    grid = z.view(15, 15, 2)
    assert (grid[:, 1:, 0] > grid[:, :-1, 0]).all() and (grid[1:, :, 1] < grid[:-1, :, 1]).all()


def test_a_wider_latent_is_walked_along_two_principal_directions() -> None:
    dcgan = ganzoo.create_model("dcgan", image_shape=(1, 28, 28))
    seen = Recorder(dcgan)
    images, nrow, how = pictures.latent_grid(dcgan, 5, samples=300, seed=3)
    assert images.shape == (25, 1, 28, 28) and "two principal directions" in how and "300 decoded samples" in how
    z = seen.calls[-1][0]
    right, up = z[1] - z[0], z[0] - z[5]  # one step along each axis of the grid
    assert torch.allclose(right / right.norm(), (z[4] - z[0]) / (z[4] - z[0]).norm(), atol=1e-5)  # straight rows
    assert right.norm() > 0 and up.norm() > 0 and abs(float(right @ up) / float(right.norm() * up.norm())) < 0.999
    again, _, _ = pictures.latent_grid(dcgan, 5, samples=300, seed=3)
    assert torch.equal(images, again)  # seeded


def test_slerp_keeps_the_endpoints_and_the_norm_of_orthogonal_unit_vectors() -> None:
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = pictures.slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.ones(5), atol=1e-6)
    same = pictures.slerp(a, 2 * a, torch.tensor([0.5]))
    assert torch.allclose(same, torch.tensor([[1.5, 0.0]]))  # parallel: linear


def test_an_interpolation_of_a_conditional_model_has_one_row_per_class_with_the_same_walk() -> None:
    cgan = ganzoo.create_model("cgan", image_shape=(1, 28, 28), num_classes=3)
    seen = Recorder(cgan)
    images, nrow, how = pictures.interpolation(cgan, 3, steps=4, seed=1)
    assert nrow == 2 * 4 + 1 and images.shape == (3 * nrow, 1, 28, 28) and "one row per class" in how
    assert [int(c[1][0]) for c in seen.calls] == [0, 1, 2]
    assert all(torch.equal(seen.calls[0][0], c[0]) for c in seen.calls)


def test_a_model_without_a_latent_space_and_bad_sizes_are_clear_errors() -> None:
    class NoLatent(ganzoo.GenerativeModel):
        name = "nolatent"
        defaults = {"latent_dim": 4}

    with pytest.raises(ConfigError, match="does not expose its latent space"):
        pictures.latent_grid(NoLatent(), 5)
    gan = ganzoo.create_model("gan")
    for n in (1, 1000, True):
        with pytest.raises(ConfigError, match="--latent-grid"):
            pictures.latent_grid(gan, n)
    with pytest.raises(ConfigError, match="--interpolate"):
        pictures.interpolation(gan, 1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-step cgan run with a grid at every step."""
    out = tmp_path_factory.mktemp("pictures") / "run"
    assert main(["train", "cgan", "--steps", "3", "--set", "train.sample_every=1", "--out", str(out), "--quiet"]) == 0
    return out


def test_every_run_gets_an_animation_of_its_grids(run: Path) -> None:
    with Image.open(run / "samples" / "progress.gif") as gif:
        assert gif.n_frames == 3
        width, height = gif.size
    with Image.open(run / "samples" / "step-00000001.png") as first:
        assert (width, height) == (first.width, first.height + 14)  # the step's caption above each grid


def test_sample_writes_the_pictures(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["sample", str(run), "--latent-grid", "4", "--label", "2", "--out", str(tmp_path / "g.png")]) == 0
    assert "principal directions" in capsys.readouterr().out
    with Image.open(tmp_path / "g.png") as png:
        assert png.width == 4 * 30 + 2 and png.height > 4 * 30 + 2  # 28-pixel images, 2-pixel padding, a caption
    assert main(["sample", str(run), "--interpolate", "2", "--out", str(tmp_path / "walk.gif")]) == 0
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 9  # 8 steps and the end point
    assert main(["sample", str(run), "--interpolate", "2", "--label", "1"]) == 2
    assert "drop --label" in capsys.readouterr().err
