"""Reading image files for data sets: each file read right (as 8-bit grey or RGB) or refused with a DataError.

Checked before a byte is decoded: the file is a regular file (a FIFO would hang the reader) of at most
``MAX_FILE_BYTES``, in one of ``FORMATS``, and its header says at most ``MAX_IMAGE_PIXELS`` pixels (Pillow's own
decompression-bomb error is caught too). Pixel values are converted by these rules:

- 8-bit modes ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr"): Pillow's ``convert`` (CMYK naively: 255 - C - K).
- alpha ("LA", "PA", "RGBA", "RGBa", and "L"/"P"/"RGB" with a transparency key): composited onto black
  (colour × alpha / 255, rounded), so a transparent pixel is black whatever colour it hides.
- 16-bit grey ("I;16", "I;16B", ...): v / 257 rounded, so 65535 is 255. 16-bit RGB(A) PNGs are read by Pillow as
  their high byte (v // 256, at most 1 from v / 257).
- "I" (32-bit integer, what older Pillow gave for 16-bit PNGs): values in 0..65535 are read as 16-bit; others
  are refused.
- "F" (32-bit float): values in [0, 1] become round(v × 255); values outside, infinities and NaN are refused.
- any other mode (LAB, HSV, I;16S, ...) is refused with the mode named.

A data set's loader bounds what it will allocate with ``check_image_size`` and ``check_dataset_bytes``, and puts
``DECODER_VERSION`` into the key of any cache of decoded images.
"""
from __future__ import annotations

import math
import os
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch

from ganzoo.errors import DataError
from ganzoo.files import file_problem

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DECODER_VERSION", "FORMATS", "MAX_DATASET_BYTES", "MAX_FILE_BYTES", "MAX_IMAGE_PIXELS", "MAX_IMAGE_SIZE", "MODES",
    "check_dataset_bytes", "check_image_size", "convert_image", "image_header", "open_image", "read_image",
]

#: Changes whenever ``read_image`` gives different pixels for some file: caches of decoded images key on it.
DECODER_VERSION = 2
#: The Pillow formats read (JPEG includes multi-picture MPO files; no EPS: Pillow hands it to Ghostscript).
FORMATS = ("PNG", "JPEG", "BMP", "PPM", "TIFF", "WEBP", "GIF")
#: The largest image file read, in bytes (a 4096×4096 16-bit RGBA TIFF is 128 MiB).
MAX_FILE_BYTES = 256 * 2**20
#: The most pixels (width × height, from the header) an image may have: 4096×4096.
MAX_IMAGE_PIXELS = 4096 * 4096
#: The largest ``image_size`` a loader resizes to.
MAX_IMAGE_SIZE = 1024
#: The most bytes of decoded uint8 pixels a data set may take (and never more than half the machine's memory).
MAX_DATASET_BYTES = 64 * 2**30

_PLAIN = frozenset({"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr"})
_ALPHA = frozenset({"LA", "PA", "RGBA", "RGBa"})
_SIXTEEN = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
#: The Pillow modes ``convert_image`` reads.
MODES = tuple(sorted(_PLAIN | _ALPHA | _SIXTEEN | {"I", "F"}))
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not wait for a writer


# -- limits a loader checks before it allocates ---------------------------------------------------------------
def check_image_size(name: str, value: Any, allow_zero: bool = False) -> int:
    """``value`` as the side to resize to: an integer from 1 (0 too if ``allow_zero``) to ``MAX_IMAGE_SIZE``."""
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        kind = "a non-negative integer (0 keeps the images' own size)" if allow_zero else "a positive integer"
        raise DataError(f"{name}: image_size={value!r} must be {kind}")
    if value > MAX_IMAGE_SIZE:
        raise DataError(f"{name}: image_size={value} is over the limit of {MAX_IMAGE_SIZE} "
                        f"(ganzoo.imagefiles.MAX_IMAGE_SIZE); pass image_size=64 or another size up to "
                        f"{MAX_IMAGE_SIZE}")
    return value


def check_dataset_bytes(name: str, count: int, shape: tuple[int, int, int]) -> int:
    """The bytes of ``count`` uint8 images of ``shape`` (C, H, W); a DataError if over the data set limit."""
    total = count * math.prod(shape)
    limit, why = _bytes_limit()
    if total > limit:
        c, h, w = shape
        raise DataError(f"{name}: the decoded images would take {_amount(total)} ({count:,} images × {c}×{h}×{w} "
                        f"bytes), over the limit of {_amount(limit)} ({why}); pass a smaller image_size "
                        "(for example image_size=64) or use fewer images")
    return total


def _bytes_limit() -> tuple[int, str]:
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        memory = 0
    if 0 < memory // 2 < MAX_DATASET_BYTES:
        return memory // 2, "half of this machine's memory"
    return MAX_DATASET_BYTES, "ganzoo.imagefiles.MAX_DATASET_BYTES"


def _amount(n: int) -> str:
    return f"{n:,} bytes" + (f" = {n / 2**30:.1f} GiB" if n >= 2**30 else "")


# -- opening a file -------------------------------------------------------------------------------------------
def image_header(path: str | os.PathLike) -> tuple[int, int, str]:
    """(width, height, mode) of the image at ``path``, after ``open_image``'s checks and a mode check; decodes nothing.

    It silences Pillow's decompression-bomb warning (ganzoo refuses such images anyway); as warning filters are
    process-wide, call it from one thread at a time.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with open_image(path) as im:
            _check_mode(im, path)
            return im.size[0], im.size[1], im.mode


@contextmanager
def open_image(path: str | os.PathLike) -> Iterator[Image.Image]:
    """The image at ``path`` opened lazily (header read, pixels not), after the file, format and size checks."""
    with _regular_file(path) as f:
        with _open(f, path) as im:
            width, height = im.size
            if width * height > MAX_IMAGE_PIXELS:
                raise DataError(f"image {path} is {width}×{height} = {width * height:,} pixels, over the limit of "
                                f"{_pixel_limit()}; shrink it or move it out of the folder")
            yield im


@contextmanager
def _regular_file(path: str | os.PathLike) -> Iterator[Any]:
    """``path`` open for reading if it is a regular file of at most MAX_FILE_BYTES (checked before and after open)."""
    try:
        _check_file(os.stat(path), path)
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc.strerror or exc}; check that it exists and is "
                        "readable") from None
    with os.fdopen(fd, "rb") as f:
        _check_file(os.fstat(fd), path)  # the file may have been swapped since the first check
        if _NONBLOCK:
            os.set_blocking(fd, True)
        yield f


def _check_file(st: os.stat_result, path: str | os.PathLike) -> None:
    problem = file_problem(path, MAX_FILE_BYTES, st)
    if problem:
        raise DataError(f"image {path}: {problem} (ganzoo.imagefiles.MAX_FILE_BYTES); an image folder may hold only "
                        "image files: shrink it or move it out")


def _open(f: Any, path: str | os.PathLike) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(f, formats=FORMATS)
    except Image.DecompressionBombError as exc:
        raise DataError(f"image {path} is too large to decode safely ({exc}); the limit is {_pixel_limit()}: "
                        "shrink it or move it out of the folder") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot decode image {path}: {exc}; it must be one of {', '.join(FORMATS)}: remove or "
                        "replace the file") from None


def _pixel_limit() -> str:
    side = math.isqrt(MAX_IMAGE_PIXELS)
    shown = f"{side}×{side}, " if side * side == MAX_IMAGE_PIXELS else ""
    return f"{MAX_IMAGE_PIXELS:,} pixels ({shown}ganzoo.imagefiles.MAX_IMAGE_PIXELS)"


# -- converting to 8 bits -------------------------------------------------------------------------------------
def read_image(path: str | os.PathLike, channels: int) -> torch.Tensor:
    """The image at ``path`` as a uint8 tensor (``channels``, H, W), ``channels`` 1 (grey) or 3 (RGB)."""
    with open_image(path) as im:
        try:
            pixels = np.array(convert_image(im, channels, path), dtype=np.uint8)
        except (OSError, SyntaxError, ValueError) as exc:  # a truncated or corrupt file fails while decoding
            raise DataError(f"cannot decode image {path}: {exc}; remove or replace the file") from None
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def convert_image(im: Image.Image, channels: int, source: object = "the image") -> Image.Image:
    """``im`` as an 8-bit "L" (``channels`` 1) or "RGB" (3) image by the module's rules; ``source`` names it."""
    from PIL import Image

    if channels not in (1, 3):
        raise DataError(f"{source}: channels={channels!r}; use 1 (grey) or 3 (RGB)")
    target = "L" if channels == 1 else "RGB"
    _check_mode(im, source)
    if im.mode in _SIXTEEN or im.mode in ("I", "F"):
        return Image.fromarray(_wide_to_8bit(im, source)).convert(target)
    if im.mode in _ALPHA or (im.mode in ("L", "P", "RGB") and "transparency" in im.info):
        return Image.fromarray(_over_black(im)).convert(target)
    return im.convert(target)


def _check_mode(im: Image.Image, source: object) -> None:
    if im.mode not in MODES:
        raise DataError(f"image {source} has Pillow mode {im.mode}, which ganzoo does not read; save it as 8-bit "
                        f"RGB or grey (modes read: {', '.join(MODES)})")


def _over_black(im: Image.Image) -> np.ndarray:
    """RGB(A) pixels composited onto black: colour × alpha / 255, rounded half up."""
    rgba = np.asarray(im.convert("RGBA"), dtype=np.uint32)
    return ((2 * rgba[..., :3] * rgba[..., 3:] + 255) // 510).astype(np.uint8)


def _wide_to_8bit(im: Image.Image, source: object) -> np.ndarray:
    """16-bit, 32-bit integer or float grey pixels as uint8 (see the module's rules)."""
    values = np.asarray(im)
    if im.mode == "F":
        return _unit_float(values.astype(np.float64), source)
    if im.mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
        raise DataError(f"image {source} is mode I (32-bit integer) with values {values.min()}..{values.max()}; "
                        "ganzoo reads it only with values in 0..65535 (as 16-bit, v/257): save it as 8- or 16-bit")
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _unit_float(values: np.ndarray, source: object) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == values.size and (not values.size or (values.min() >= 0 and values.max() <= 1)):
        return np.floor(values * 255 + 0.5).astype(np.uint8)
    shown = f"{finite.min():g}..{finite.max():g}" if finite.size else "none finite"
    if np.isnan(values).any():
        shown += " and NaN"
    if np.isinf(values).any():
        shown += " and infinities"
    raise DataError(f"image {source} is mode F (32-bit float) with values {shown}; ganzoo reads float images only "
                    "with values in [0, 1] (scaled to 0..255): rescale it into [0, 1] or save it as 8-bit")
