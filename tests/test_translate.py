"""``ganzoo translate`` maps a folder or an ``.npz`` of images with a translation model (cyclegan), one PNG per image;
``ganzoo sample`` of a translation model draws its rows A, A→B, A→B→A, B, B→A, B→A→B from the run's data; ``ganzoo
export`` of one has that grid and a card that translates. Every bad input is one line, exit 2, no traceback, and the
input files are never touched."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganzoo
from ganzoo.cli import main
from ganzoo.sampling import grid_size

TINY = ["--set", "cyclegan.g_channels=4", "--set", "cyclegan.d_channels=4", "--set", "cyclegan.g_blocks=1",
        "--set", "train.sample_every=0"]
PAIR = ["--data-option", "classes=[3,8]"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> dict[str, Path]:
    """A tiny cyclegan trained 10 steps on MNIST 3s (A) and 8s (B), and a one-step dcgan."""
    root = tmp_path_factory.mktemp("translate-runs")
    assert main(["train", "cyclegan", "--steps", "10", *PAIR, *TINY, "--out", str(root / "cyclegan"), "--quiet"]) == 0
    assert main(["train", "dcgan", "--steps", "1", "--set", "dcgan.g_channels=4", "--set", "dcgan.d_channels=4",
                 "--set", "train.sample_every=0", "--out", str(root / "dcgan"), "--quiet"]) == 0
    return {"cyclegan": root / "cyclegan", "dcgan": root / "dcgan"}


@pytest.fixture()
def pngs(tmp_path: Path) -> Path:
    """A folder of five 28×28 grey PNGs (MNIST-like strokes) and a text file."""
    folder = tmp_path / "in"
    folder.mkdir()
    gen = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray((gen.random((28, 28)) > 0.7).astype(np.uint8) * 255).save(folder / f"digit{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def fingerprint(path: Path) -> dict[str, str]:
    """Every file under ``path`` (or the file itself) with the SHA-256 of its bytes."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, str]:
    """``ganzoo ARGV`` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def cli_error(capsys: pytest.CaptureFixture, *argv: object) -> str:
    """``ganzoo ARGV`` must exit 2 with one error line and no traceback; the line, its whitespace folded."""
    code, _, err = cli(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
    assert code == 2, err
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error:"), err
    return " ".join(lines[0].split())


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


# -- translate ----------------------------------------------------------------------------------------------------
def test_translate_a_folder_writes_one_png_per_image_with_its_name(runs, pngs, tmp_path, capsys) -> None:
    before = fingerprint(pngs)
    code, out, err = cli(capsys, "translate", runs["cyclegan"], "--input", pngs, "--to", "B", "--out",
                         tmp_path / "out")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"digit{i}.png" for i in range(5)]
    for i in range(5):
        image = read_png(tmp_path / "out" / f"digit{i}.png")
        assert image.shape == (28, 28) and image.dtype == np.uint8
    summary = " ".join(out.split())
    assert "translated 5 images from A ('3') to B ('8')" in summary and str(tmp_path / "out") in summary
    assert "skipped 1 file" in err and "notes.txt" in err  # a file that is not an image: skipped, said so
    assert fingerprint(pngs) == before


def test_to_a_and_to_b_differ_and_the_class_name_means_its_domain(runs, pngs, tmp_path, capsys) -> None:
    for to in ("A", "B", "8"):
        assert cli(capsys, "translate", runs["cyclegan"], "--input", pngs, "--to", to, "--out", tmp_path / to)[0] == 0
    a, b, eight = (read_png(tmp_path / d / "digit0.png") for d in ("A", "B", "8"))
    assert not np.array_equal(a, b)
    assert np.array_equal(b, eight)


def test_the_results_are_the_models_translations(runs, pngs, tmp_path, capsys) -> None:
    assert cli(capsys, "translate", runs["cyclegan"], "--input", pngs, "--to", "B", "--npz", tmp_path / "r.npz",
               "--batch-size", "2")[0] == 0
    model = ganzoo.load(runs["cyclegan"])
    images = torch.stack([torch.from_numpy(read_png(pngs / f"digit{i}.png")) for i in range(5)])[:, None]
    expected = ((model.translate(images.float() / 127.5 - 1, 0) + 1) * 127.5).round().clamp(0, 255).byte()
    with np.load(tmp_path / "r.npz") as saved:
        assert saved["images"].shape == (5, 28, 28, 1) and saved["images"].dtype == np.uint8
        assert (saved["labels"] == 1).all()
        assert np.abs(saved["images"][..., 0].astype(int) - expected[:, 0].numpy().astype(int)).max() <= 1


def test_translate_an_npz_as_sample_writes_it(runs, tmp_path, capsys) -> None:
    source = tmp_path / "in.npz"
    assert cli(capsys, "sample", runs["cyclegan"], "--n", "12", "--out", source)[0] == 0
    before = fingerprint(source)
    code, _, err = cli(capsys, "translate", runs["cyclegan"], "--input", source, "--to", "A", "--out",
                       tmp_path / "out", "--npz", tmp_path / "out.npz", "--grid", tmp_path / "pairs.png")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{i:05d}.png" for i in range(12)]
    with np.load(tmp_path / "out.npz") as saved:
        assert saved["images"].shape == (12, 28, 28, 1)
    with Image.open(tmp_path / "pairs.png") as grid:  # 12 pairs, 8 per row: 4 rows of images under a caption
        width, height = grid_size((1, 28, 28), 32, 8)
        assert grid.width == width and grid.height > height
    assert fingerprint(source) == before


def test_grey_images_go_into_an_rgb_model_and_colour_is_refused_by_a_grey_one(runs, tmp_path, capsys) -> None:
    rgb = _train_rgb(tmp_path / "rgb", _two_domains(tmp_path / "data"))
    folder = tmp_path / "grey"
    folder.mkdir()
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(folder / "g.png")
    code, out, err = cli(capsys, "translate", rgb, "--input", folder, "--to", "trainB", "--out", tmp_path / "o")
    assert code == 0, err
    assert read_png(tmp_path / "o" / "g.png").shape == (8, 8, 3) and "1 of them grey, read as RGB" in out
    colour = tmp_path / "colour"
    colour.mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (28, 28, 3), dtype=np.uint8)).save(colour / "c.png")
    line = cli_error(capsys, "translate", runs["cyclegan"], "--input", colour, "--to", "B", "--out", tmp_path / "x")
    assert str(colour / "c.png") in line and "has colour" in line and "grey 1×28×28" in line


def _two_domains(root: Path) -> Path:
    """An image folder with trainA/ (dark) and trainB/ (light) 8×8 RGB images."""
    gen = np.random.default_rng(2)
    for domain, base in (("trainA", 0), ("trainB", 128)):
        (root / domain).mkdir(parents=True)
        for i in range(4):
            pixels = (gen.integers(0, 127, (8, 8, 3)) + base).astype(np.uint8)
            Image.fromarray(pixels).save(root / domain / f"{i}.png")
    return root


def _train_rgb(run: Path, data: Path) -> Path:
    """A one-step cyclegan of ``data``'s 8×8 RGB images in ``run``."""
    assert main(["train", "cyclegan", "--steps", "1", "--batch-size", "4", *TINY, "--dataset", "imagefolder",
                 "--data-root", str(data), "--out", str(run), "--quiet"]) == 0
    return run


# -- bad input: one line, exit 2, nothing written, the input untouched ---------------------------------------------
def _bad_folders(tmp_path: Path) -> dict[str, Path]:
    folders = {}
    for name in ("big", "empty", "broken", "twins", "nested"):
        folders[name] = tmp_path / name
        folders[name].mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(folders["big"] / "x.png")
    (folders["broken"] / "fake.png").write_bytes(b"not an image at all")
    for suffix in ("png", "bmp"):
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(folders["twins"] / f"t.{suffix}")
    (folders["nested"] / "inner").mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(folders["nested"] / "inner" / "a.png")
    arrays = {"noimages": {"pics": np.zeros((2, 28, 28, 1), np.uint8)},
              "float": {"images": np.zeros((2, 28, 28, 1), np.float32)},
              "flat": {"images": np.zeros((2, 28, 28), np.uint8)},
              "size": {"images": np.zeros((2, 32, 32, 1), np.uint8)},
              "none": {"images": np.zeros((0, 28, 28, 1), np.uint8)},
              "four": {"images": np.zeros((2, 28, 28, 4), np.uint8)}}
    for name, content in arrays.items():
        folders[name] = tmp_path / f"{name}.npz"
        np.savez(folders[name], **content)
    folders["text"] = tmp_path / "text.npz"
    folders["text"].write_text("not a zip")
    return folders


@pytest.mark.parametrize("case,needles", [
    ("missing", ["does not exist", "folder of image files or an .npz"]),
    ("big", ["x.png is 32×32 pixels", "translates 28×28 images", "resize it"]),
    ("empty", ["holds no image files"]),
    ("nested", ["holds no image files", "sub-folders are not read: inner"]),
    ("broken", ["fake.png", "cannot decode image"]),
    ("twins", ["t.bmp", "t.png", "would both be written as t.png"]),
    ("noimages", ["holds no 'images' array", "pics"]),
    ("float", ["'images' is float32", "uint8"]),
    ("flat", ["shape (2, 28, 28)", "N×28×28×1"]),
    ("size", ["the images are 32×32", "translates 28×28 images"]),
    ("none", ["holds no images"]),
    ("four", ["shape (2, 28, 28, 4)"]),
    ("text", ["not an .npz"]),
])
def test_bad_input_is_one_line_naming_it(runs, tmp_path, capsys, case, needles) -> None:
    source = _bad_folders(tmp_path).get(case, tmp_path / "missing")
    before = fingerprint(tmp_path)
    line = cli_error(capsys, "translate", runs["cyclegan"], "--input", source, "--to", "B", "--out", tmp_path / "o")
    assert str(source) in line, line
    for needle in needles:
        assert needle in line, line
    assert fingerprint(tmp_path) == before and not (tmp_path / "o").exists()


def test_the_input_folder_is_never_the_output(runs, pngs, tmp_path, capsys) -> None:
    before = fingerprint(pngs)
    line = cli_error(capsys, "translate", runs["cyclegan"], "--input", pngs, "--to", "B", "--out", pngs)
    assert "is the --input folder" in line
    line = cli_error(capsys, "translate", runs["cyclegan"], "--input", pngs, "--to", "B", "--out", tmp_path / "o",
                     "--grid", pngs / "digit1.png")
    assert "--grid" in line and "is one of the input files" in line
    (tmp_path / "file").write_text("x")
    line = cli_error(capsys, "translate", runs["cyclegan"], "--input", pngs, "--to", "B", "--out", tmp_path / "file")
    assert "is a file, not a folder" in line
    assert fingerprint(pngs) == before


def test_a_domain_that_does_not_exist_and_a_model_that_does_not_translate_are_refused(runs, pngs, tmp_path,
                                                                                       capsys) -> None:
    line = cli_error(capsys, "translate", runs["cyclegan"], "--input", pngs, "--to", "C", "--out", tmp_path / "o")
    assert "--to: domain 'C' does not exist" in line and "A, B, '3', '8'" in line
    line = cli_error(capsys, "translate", runs["dcgan"], "--input", pngs, "--to", "B", "--out", tmp_path / "o")
    assert "model 'dcgan' is not a translation model" in line and "ganzoo sample" in line
    assert not (tmp_path / "o").exists()


# -- sample and export ---------------------------------------------------------------------------------------------
def test_sample_draws_the_six_rows_from_the_runs_data(runs, tmp_path, capsys) -> None:
    code, out, err = cli(capsys, "sample", runs["cyclegan"], "--n", "18", "--out", tmp_path / "grid.png")
    assert code == 0, err
    with Image.open(tmp_path / "grid.png") as grid:  # 18 // 6 = 3 columns, 6 rows
        assert grid.size == grid_size((1, 28, 28), 18, 3)
    assert "6 rows (A, A→B, A→B→A, B, B→A, B→A→B) × 3 columns" in " ".join(out.split())
    assert cli(capsys, "sample", runs["cyclegan"], "--n", "12", "--out", tmp_path / "grid.npz")[0] == 0
    with np.load(tmp_path / "grid.npz") as saved:
        assert saved["images"].shape == (12, 28, 28, 1)
        assert saved["labels"].tolist() == [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1]  # the domain of each row


@pytest.mark.parametrize("option", [["--label", "1"], ["--latent-grid", "3"], ["--interpolate", "2"],
                                    ["--style-mix"], ["--truncation", "0.5"]])
def test_sample_refuses_the_noise_options_for_a_translation_model(runs, tmp_path, capsys, option) -> None:
    line = cli_error(capsys, "sample", runs["cyclegan"], *option, "--out", tmp_path / "x.png")
    assert line.startswith(f"error: {option[0]}: model 'cyclegan' translates images") and f"drop {option[0]}" in line
    assert not (tmp_path / "x.png").exists()


def test_sample_of_other_models_takes_no_data_flags(runs, tmp_path, capsys) -> None:
    line = cli_error(capsys, "sample", runs["dcgan"], "--data-option", "classes=[1]", "--out", tmp_path / "x.png")
    assert "--data-option: model 'dcgan' samples from noise and reads no data" in line
    assert cli(capsys, "sample", runs["dcgan"], "--n", "4", "--out", tmp_path / "x.png")[0] == 0


def test_export_load_and_translate_round_trip(runs, pngs, tmp_path, capsys) -> None:
    export = tmp_path / "export"
    assert cli(capsys, "export", runs["cyclegan"], "--out", export)[0] == 0
    card = (export / "README.md").read_text()
    assert "model.translate(images, 0)" in card and "model.sample(" not in card and "ganzoo translate" in card
    assert "A, A→B, A→B→A, B, B→A, B→A→B" in card and "pipeline_tag: image-to-image" in card
    assert json.loads((export / "config.json").read_text())["translates"] is True
    with Image.open(export / "samples.png") as grid:  # 64 // 6 = 10 columns, 6 rows
        assert grid.size == grid_size((1, 28, 28), 60, 10)
    model, loaded = ganzoo.load(runs["cyclegan"]), ganzoo.load(export)
    images = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert torch.equal(model.translate(images, 1), loaded.translate(images, 1))
    for source in (runs["cyclegan"], export):
        assert cli(capsys, "translate", source, "--input", pngs, "--to", "B", "--out", tmp_path / source.name)[0] == 0
    assert np.array_equal(read_png(tmp_path / "cyclegan" / "digit2.png"), read_png(tmp_path / "export" / "digit2.png"))


def test_export_without_the_runs_data_leaves_the_grid_out_saying_why(tmp_path, capsys) -> None:
    data = _two_domains(tmp_path / "data")
    run = _train_rgb(tmp_path / "run", data)
    for image in data.rglob("*.png"):
        image.unlink()
    code, out, err = cli(capsys, "export", run, "--out", tmp_path / "export")
    assert code == 0, err
    assert not (tmp_path / "export" / "samples.png").exists() and "samples.png" not in out
    card = (tmp_path / "export" / "README.md").read_text()
    assert "No samples.png" in card and "imagefolder" in card and "warning:" in err
    assert ganzoo.load(tmp_path / "export").translates
