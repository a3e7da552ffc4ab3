"""Image files are read right or refused: 16-bit and float images scaled to 8 bits, alpha composited, and bombs,
FIFOs, huge files, huge ``image_size`` values and data sets too big for memory refused with a DataError."""
from __future__ import annotations

import os
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.cli import main
from ganzoo.data import load_dataset
from ganzoo.errors import DataError


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test decodes afresh: a cache filled by another test must not answer."""
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANZOO_DATA", raising=False)


def folder_with(tmp_path: Path, *images: Image.Image, suffix: str = ".png") -> Path:
    """A one-class image folder holding ``images`` as a.png, b.png, ... (or ``suffix``)."""
    folder = tmp_path / "images"
    (folder / "only").mkdir(parents=True)
    for name, im in zip("abcdefgh", images):
        im.save(folder / "only" / f"{name}{suffix}")
    return folder


def load(folder: Path, channels: int = 1, image_size: int = 0) -> np.ndarray:
    """The public path: the decoded images as (N, H, W, C) numpy."""
    data = load_dataset("imagefolder", path=str(folder), channels=channels, image_size=image_size)
    return data.images.permute(0, 2, 3, 1).numpy()


def mode_of(path: Path) -> str:
    """The Pillow mode the file opens as."""
    with Image.open(path) as im:
        return im.mode


def write_png16(path: Path, array: np.ndarray, color_type: int) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB): IHDR, one zlib IDAT, IEND."""
    h, w = array.shape[:2]
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


GRADIENT16 = (np.arange(16 * 16, dtype=np.uint32).reshape(16, 16) * 257 + np.arange(16)[:, None] * 7) \
    .clip(0, 65535).astype(np.uint16)


# -- wide images are scaled, not clipped ------------------------------------------------------------------------
def test_16_bit_grey_png_is_scaled_to_8_bits(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, Image.fromarray(GRADIENT16))
    assert mode_of(folder / "only" / "a.png") == "I;16"
    expected = np.floor(GRADIENT16 / 257 + 0.5).astype(np.uint8)
    assert np.array_equal(load(folder)[0, ..., 0], expected)
    assert np.array_equal(load(folder, channels=3)[0], np.repeat(expected[..., None], 3, axis=2))


def test_16_bit_big_endian_and_32_bit_int_images_follow_the_16_bit_rule(tmp_path: Path) -> None:
    big = Image.frombytes("I;16B", (16, 16), GRADIENT16.astype(">u2").tobytes())
    wide = Image.fromarray(GRADIENT16.astype(np.int32))
    assert wide.mode == "I"
    folder = folder_with(tmp_path, big, wide, suffix=".tif")
    expected = np.floor(GRADIENT16 / 257 + 0.5).astype(np.uint8)
    images = load(folder)
    assert np.array_equal(images[0, ..., 0], expected) and np.array_equal(images[1, ..., 0], expected)


def test_32_bit_int_image_beyond_16_bits_is_refused(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, Image.fromarray(np.full((8, 8), 70000, np.int32)), suffix=".tif")
    with pytest.raises(DataError) as err:
        load(folder)
    text = str(err.value)
    assert "a.tif" in text and "mode I" in text and "0..65535" in text


def test_16_bit_rgb_png_keeps_pillows_high_byte(tmp_path: Path) -> None:
    rgb = np.stack([GRADIENT16, GRADIENT16[::-1], GRADIENT16.T], axis=-1)
    folder = tmp_path / "images"
    (folder / "only").mkdir(parents=True)
    write_png16(folder / "only" / "a.png", rgb, color_type=2)
    got = load(folder, channels=3)[0].astype(int)
    assert np.array_equal(got, rgb >> 8)  # Pillow reads 16-bit RGB as its high byte: within 1 of v/257
    assert np.abs(got - rgb / 257).max() <= 1


def test_float_tiff_in_unit_range_is_scaled(tmp_path: Path) -> None:
    values = np.linspace(0, 1, 16 * 16, dtype=np.float32).reshape(16, 16)
    folder = folder_with(tmp_path, Image.fromarray(values), suffix=".tif")
    assert mode_of(folder / "only" / "a.tif") == "F"
    expected = np.floor(values.astype(np.float64) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(load(folder)[0, ..., 0], expected)
    assert expected.max() == 255 and expected.min() == 0


@pytest.mark.parametrize("value,shown", [(5.0, "5"), (-0.5, "-0.5"), (float("nan"), "NaN")])
def test_float_tiff_outside_unit_range_is_refused(tmp_path: Path, value: float, shown: str) -> None:
    values = np.full((8, 8), 0.5, np.float32)
    values[3, 3] = value
    folder = folder_with(tmp_path, Image.fromarray(values), suffix=".tif")
    with pytest.raises(DataError) as err:
        load(folder)
    text = str(err.value)
    assert str(folder / "only" / "a.tif") in text and "mode F" in text and "[0, 1]" in text and shown in text


# -- other modes --------------------------------------------------------------------------------------------------
def test_alpha_is_composited_onto_black(tmp_path: Path) -> None:
    rgba = np.array([[[200, 100, 50, 255], [200, 100, 50, 0]], [[200, 100, 50, 128], [0, 0, 0, 255]]], np.uint8)
    la = np.array([[[200, 255], [200, 0]], [[200, 128], [10, 255]]], np.uint8)
    palette = Image.new("P", (2, 2))
    palette.putpalette([200, 100, 50, 0, 0, 0] + [0] * 762)
    palette.putdata([0, 1, 0, 0])
    palette.info["transparency"] = 1  # palette entry 1 is fully transparent
    folder = folder_with(tmp_path, Image.fromarray(rgba, "RGBA"), Image.fromarray(la, "LA"), palette)
    rgb = load(folder, channels=3)
    premultiplied = np.floor(rgba[..., :3] * (rgba[..., 3:] / 255) + 0.5).astype(np.uint8)
    assert np.array_equal(rgb[0], premultiplied)
    grey = np.floor(la[..., :1] * (la[..., 1:] / 255) + 0.5).astype(np.uint8)
    assert np.array_equal(rgb[1], np.repeat(grey, 3, axis=2))
    assert rgb[2].tolist() == [[[200, 100, 50], [0, 0, 0]], [[200, 100, 50], [200, 100, 50]]]
    assert np.array_equal(load(folder, channels=1)[0, ..., 0],
                          np.asarray(Image.fromarray(premultiplied, "RGB").convert("L")))


def test_cmyk_and_bilevel_images_convert(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 255, 0))  # no black ink, full magenta and yellow: red
    bits = Image.fromarray(np.array([[True, False], [False, True]]))
    assert bits.mode == "1"
    folder = folder_with(tmp_path, cmyk, bits, suffix=".tif")
    rgb = load(folder, channels=3)
    assert (rgb[0] == [255, 0, 0]).all()
    assert rgb[1, ..., 0].tolist() == [[255, 0], [0, 255]] and (rgb[1, ..., 0] == rgb[1, ..., 2]).all()


def test_a_mode_ganzoo_cannot_read_is_named(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, Image.new("LAB", (4, 4)), suffix=".tif")
    with pytest.raises(DataError) as err:
        load(folder)
    assert "a.tif" in str(err.value) and "LAB" in str(err.value)


# -- bombs, FIFOs, huge sizes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("side", [5000, 14000])
def test_images_over_the_pixel_limit_are_refused_before_decoding(tmp_path: Path, side: int) -> None:
    """5000² is over ganzoo's limit only; 14000² also trips Pillow's own decompression-bomb error."""
    from ganzoo.imagefiles import MAX_IMAGE_PIXELS

    folder = folder_with(tmp_path, Image.new("1", (side, side)))
    assert (folder / "only" / "a.png").stat().st_size < 2**20
    with pytest.raises(DataError) as err:
        load(folder)
    assert str(folder / "only" / "a.png") in str(err.value) and f"{MAX_IMAGE_PIXELS:,}" in str(err.value)


def test_a_fifo_in_the_folder_is_refused_without_hanging(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, Image.new("L", (4, 4)))
    fifo = folder / "only" / "x.png"
    os.mkfifo(fifo)
    guard = threading.Timer(30, _unblock, [fifo])  # only if the reader hangs: a writer lets its open() return
    guard.start()
    try:
        with pytest.raises(DataError) as err:
            load(folder)
    finally:
        guard.cancel()
    assert str(fifo) in str(err.value) and "not a regular file" in str(err.value)


def _unblock(fifo: Path) -> None:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import ganzoo.imagefiles as imagefiles

    folder = folder_with(tmp_path, Image.new("L", (4, 4)))
    monkeypatch.setattr(imagefiles, "MAX_FILE_BYTES", 10)
    with pytest.raises(DataError) as err:
        load(folder)
    assert "a.png" in str(err.value) and "MAX_FILE_BYTES" in str(err.value)


@pytest.mark.parametrize("loader", ["imagefolder", "celeba"])
def test_a_huge_image_size_is_refused_before_anything_is_read(tmp_path: Path, loader: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import ganzoo_builtin.datasets as builtin

    monkeypatch.setattr(builtin, "_decode_all", lambda *a, **k: pytest.fail("decoding began"))
    folder = folder_with(tmp_path, Image.new("L", (4, 4)))
    options = {"path": str(folder)} if loader == "imagefolder" else {}
    with pytest.raises(DataError) as err:
        load_dataset(loader, root=tmp_path / "nothing-here", image_size=100000, **options)
    assert "image_size=100000" in str(err.value) and "1024" in str(err.value)


def test_a_data_set_too_big_for_memory_is_refused_saying_how_big(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import ganzoo.imagefiles as imagefiles

    folder = folder_with(tmp_path, *[Image.new("RGB", (16, 16))] * 4)
    monkeypatch.setattr(imagefiles, "MAX_DATASET_BYTES", 3000)
    with pytest.raises(DataError) as err:
        load(folder, channels=3)
    text = str(err.value)
    assert "3,072 bytes" in text and "4 images" in text and "image_size" in text
    assert load(folder, channels=3, image_size=8).shape == (4, 8, 8, 3)  # 768 bytes fit


def test_old_decodings_in_the_cache_are_not_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ganzoo.imagefiles as imagefiles

    folder = folder_with(tmp_path, Image.fromarray(GRADIENT16))
    right = load(folder)
    [cached] = (tmp_path / "cache" / "datasets").glob("imagefolder-*.pt")
    blob = torch.load(cached, weights_only=True)
    torch.save({**blob, "images": torch.full_like(blob["images"], 255)}, cached)  # as the old decoder left it
    assert (load(folder) == 255).all()  # same decoder: the cache answers
    monkeypatch.setattr(imagefiles, "DECODER_VERSION", imagefiles.DECODER_VERSION + 1)
    assert np.array_equal(load(folder), right)


def test_the_command_line_reports_a_bad_image_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = folder_with(tmp_path, Image.fromarray(np.full((8, 8), 5.0, np.float32)), suffix=".tif")
    code = main(["train", "gan", "--dataset", "imagefolder", "--data-option", f"path={folder}", "--steps", "1",
                 "--batch-size", "1", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("error:") and "a.tif" in line and "mode F" in line
