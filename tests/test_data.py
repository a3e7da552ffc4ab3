"""Data sets: every loader on tiny files made in a temp dir (through the real torchvision code), the missing-files
error, loader options, the decode cache, and the batch stream the harness trains from."""
from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.batches import BatchStream
from ganzoo.data import ImageData, list_datasets, load_dataset, to_unit_range
from ganzoo.errors import ConfigError, DataError, UnknownNameError


@pytest.fixture(autouse=True)
def _no_data_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GANZOO_DATA of the user's must not answer for the temp folders."""
    monkeypatch.delenv("GANZOO_DATA", raising=False)


def _exists_only(fpath, md5=None) -> bool:
    """torchvision's integrity check without the MD5 of the real archives (our files are tiny fakes)."""
    return os.path.isfile(fpath)


# -- file writers ---------------------------------------------------------------------------------------------
def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file (the MNIST format): magic (0, 0, 0x08 = uint8, ndim), big-endian sizes, raw bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 | array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def make_idx_dataset(root: Path, folder: str, n_train: int = 12, n_test: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[prefix] = images
        arrays[prefix + "-labels"] = labels
    return arrays


def make_cifar(root: Path, per_batch: int = 4) -> np.ndarray:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    first = None
    for b, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8)
        first = data if first is None else first
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": [(b * per_batch + i) % 10 for i in range(per_batch)]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"]}, f)
    return first


def make_celeba(root: Path, n: int = 4) -> None:
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    rng = np.random.default_rng(2)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(folder / "img_align_celeba" / name)
    blond = [1, -1, 1, -1]
    (folder / "list_attr_celeba.txt").write_text(
        f"{n}\nBlack_Hair Blond_Hair Smiling\n" + "".join(f"{m} -1 {blond[i]} 1\n" for i, m in enumerate(names)))
    (folder / "identity_CelebA.txt").write_text("".join(f"{m} {i}\n" for i, m in enumerate(names)))
    (folder / "list_bbox_celeba.txt").write_text(
        f"{n}\nimage_id x_1 y_1 width height\n" + "".join(f"{m} 1 2 3 4\n" for m in names))
    (folder / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x "
        "rightmouth_y\n" + "".join(f"{m} 1 2 3 4 5 6 7 8 9 10\n" for m in names))
    (folder / "list_eval_partition.txt").write_text("".join(f"{m} {0 if i < 3 else 2}\n" for i, m in enumerate(names)))


def make_image_folder(root: Path, sizes=((12, 10), (12, 10), (12, 10))) -> Path:
    rng = np.random.default_rng(3)
    for cls, count in (("cats", 2), ("dogs", 1)):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            h, w = sizes[i if cls == "cats" else 2]
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


# -- the loaders ----------------------------------------------------------------------------------------------
def test_builtin_data_sets_are_registered() -> None:
    assert {"mnist-embedded", "mnist-ab", "mnist", "fashion-mnist", "cifar10", "celeba", "imagefolder"} <= set(
        list_datasets())
    with pytest.raises(UnknownNameError, match="ganzoo datasets"):
        load_dataset("mnistt")


def test_embedded_mnist_is_500_real_digits_per_class() -> None:
    data = load_dataset("mnist-embedded")
    assert data.images.shape == (5000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert torch.bincount(data.labels).tolist() == [500] * 10
    assert data.images.float().mean() > 10  # real digits, not blank


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_idx_data_sets_load_through_torchvision(tmp_path: Path, name: str, folder: str) -> None:
    arrays = make_idx_dataset(tmp_path, folder)
    train = load_dataset(name, root=tmp_path)
    assert train.images.shape == (12, 1, 28, 28) and train.num_classes == 10
    assert torch.equal(train.images[:, 0], torch.from_numpy(arrays["train"]))
    assert train.labels.tolist() == arrays["train-labels"].tolist()
    test = load_dataset(name, root=tmp_path, split="test")
    assert len(test) == 6


def test_cifar10_loads_through_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", _exists_only)
    first = make_cifar(tmp_path)
    data = load_dataset("cifar10", root=tmp_path)
    assert data.images.shape == (20, 3, 32, 32) and data.num_classes == 10
    assert torch.equal(data.images[0], torch.from_numpy(first[0].reshape(3, 32, 32)))
    assert data.class_names[6] == "frog"
    frogs = load_dataset("cifar10", root=tmp_path, classes=["frog"])  # the source design's class 6
    assert frogs.num_classes == 1 and len(frogs) == 2 and frogs.labels.tolist() == [0, 0]


def test_celeba_is_labelled_by_an_attribute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.celeba as celeba

    monkeypatch.setattr(celeba, "check_integrity", _exists_only)
    make_celeba(tmp_path)
    data = load_dataset("celeba", root=tmp_path, image_size=8)
    assert data.images.shape == (3, 3, 8, 8)  # the train split: the first three images
    assert data.labels.tolist() == [1, 0, 1] and data.class_names == ["not Blond_Hair", "Blond_Hair"]
    smiling = load_dataset("celeba", root=tmp_path, image_size=8, attribute="Smiling", split="all")
    assert smiling.labels.tolist() == [1, 1, 1, 1]
    with pytest.raises(DataError, match="Blond_Hair"):
        load_dataset("celeba", root=tmp_path, attribute="Purple_Hair")


def test_imagefolder_classes_are_subfolders(tmp_path: Path) -> None:
    folder = make_image_folder(tmp_path / "pets")
    data = load_dataset("imagefolder", path=str(folder))
    assert data.images.shape == (3, 3, 12, 10) and data.class_names == ["cats", "dogs"]
    assert data.labels.tolist() == [0, 0, 1]
    grey = load_dataset("imagefolder", root=folder, image_size=8, channels=1)
    assert grey.images.shape == (3, 1, 8, 8)


def test_imagefolder_of_mixed_sizes_asks_for_image_size(tmp_path: Path) -> None:
    folder = make_image_folder(tmp_path / "mixed", sizes=((12, 10), (16, 16), (12, 10)))
    with pytest.raises(DataError, match="image_size"):
        load_dataset("imagefolder", path=str(folder))
    assert load_dataset("imagefolder", path=str(folder), image_size=8).images.shape == (3, 3, 8, 8)


def test_decoded_images_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ganzoo_builtin.datasets as builtin

    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    folder = make_image_folder(tmp_path / "pets")
    first = load_dataset("imagefolder", path=str(folder))
    monkeypatch.setattr(builtin, "_decode_all", lambda *a, **k: pytest.fail("the cache should have answered"))
    assert torch.equal(load_dataset("imagefolder", path=str(folder)).images, first.images)
    assert list((tmp_path / "cache" / "datasets").glob("imagefolder-*.pt"))


@pytest.mark.parametrize("name,missing,layout", [
    ("mnist", "train-images-idx3-ubyte", "MNIST/raw"),
    ("fashion-mnist", "t10k-labels-idx1-ubyte", "FashionMNIST/raw"),
    ("cifar10", "data_batch_1", "cifar-10-batches-py"),
    ("celeba", "list_attr_celeba.txt", "celeba"),
])
def test_missing_files_name_the_files_the_folder_and_the_flag(tmp_path: Path, name: str, missing: str,
                                                              layout: str) -> None:
    with pytest.raises(DataError) as err:
        load_dataset(name, root=tmp_path)
    text = str(err.value)
    assert missing in text and str(tmp_path / layout) in text and "--download" in text and "--data-root" in text


def test_data_root_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_idx_dataset(tmp_path, "MNIST")
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path))
    assert len(load_dataset("mnist")) == 12


def test_failed_download_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error

    import torchvision.datasets.mnist as mnist

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(mnist, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match="download"):
        load_dataset("mnist", root=tmp_path, download=True)


def test_loader_options_are_checked() -> None:
    with pytest.raises(DataError, match="takes no option 'colour'"):
        load_dataset("mnist-embedded", colour="red")
    with pytest.raises(DataError, match="no class 'eleven'"):
        load_dataset("mnist-embedded", classes=["eleven"])


def test_classes_option_keeps_and_relabels() -> None:
    data = load_dataset("mnist-embedded", classes=[7, "3"])
    assert data.num_classes == 2 and data.class_names == ["7", "3"] and len(data) == 1000
    full = load_dataset("mnist-embedded")
    assert torch.equal(data.images[data.labels == 0], full.images[full.labels == 7])


def test_image_data_rejects_malformed_tensors() -> None:
    with pytest.raises(DataError, match="uint8"):
        ImageData("x", torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), 1)
    with pytest.raises(DataError, match="labels"):
        ImageData("x", torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.long), 1)


# -- the batch stream -----------------------------------------------------------------------------------------
def tiny_data(n: int = 24) -> ImageData:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    return ImageData("tiny", images, torch.arange(n) % 3, 3)


def ids(batch) -> list[int]:
    """The image ids of a batch (each image is filled with its own index)."""
    return ((batch.images[:, 0, 0, 0] + 1) * 127.5).round().long().tolist()


def test_each_epoch_is_a_seeded_permutation() -> None:
    data = tiny_data(24)
    stream = BatchStream(data, 8, torch.device("cpu"), seed=5)
    epoch = [i for _ in range(3) for i in ids(next(stream))]
    assert sorted(epoch) == list(range(24)) and epoch != list(range(24))
    again = BatchStream(data, 8, torch.device("cpu"), seed=5)
    assert [i for _ in range(3) for i in ids(next(again))] == epoch
    other = BatchStream(data, 8, torch.device("cpu"), seed=6)
    assert [i for _ in range(3) for i in ids(next(other))] != epoch
    assert sorted(i for _ in range(3) for i in ids(next(stream))) == list(range(24))  # the next epoch
    assert stream.epoch == 1


def test_batches_are_normalised_to_unit_range() -> None:
    data = ImageData("edge", torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1), torch.zeros(2).long(), 1)
    batch = next(BatchStream(data, 2, torch.device("cpu"), seed=0))
    assert sorted(batch.images.flatten().tolist()) == [-1.0, 1.0]
    assert torch.equal(to_unit_range(torch.tensor([0, 255], dtype=torch.uint8)), torch.tensor([-1.0, 1.0]))


def test_ranks_split_every_global_batch() -> None:
    data = tiny_data(24)
    whole = BatchStream(data, 8, torch.device("cpu"), seed=1)
    ranks = [BatchStream(data, 8, torch.device("cpu"), seed=1, rank=r, world_size=2) for r in range(2)]
    for _ in range(5):
        a, b = ids(next(ranks[0])), ids(next(ranks[1]))
        assert len(a) == len(b) == 4 and not set(a) & set(b)
        assert a + b == ids(next(whole))


def test_stream_placement_draws_the_same_batches() -> None:
    data = tiny_data(24)
    fast = BatchStream(data, 8, torch.device("cpu"), seed=2, placement="device")
    streamed = BatchStream(data, 8, torch.device("cpu"), seed=2, placement="stream")
    for _ in range(7):
        a, b = next(fast), next(streamed)
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_position_resumes_mid_epoch() -> None:
    data = tiny_data(24)
    stream = BatchStream(data, 8, torch.device("cpu"), seed=3)
    for _ in range(4):
        next(stream)
    state = stream.state_dict()
    expected = [ids(next(stream)) for _ in range(4)]
    resumed = BatchStream(data, 8, torch.device("cpu"), seed=3)
    resumed.load_state_dict(state)
    assert [ids(next(resumed)) for _ in range(4)] == expected


def test_batch_stream_errors() -> None:
    data = tiny_data(6)
    with pytest.raises(DataError, match="lower --batch-size"):
        BatchStream(data, 8, torch.device("cpu"), seed=0)
    with pytest.raises(ConfigError, match="multiple of 4"):
        BatchStream(data, 6, torch.device("cpu"), seed=0, world_size=4)
    with pytest.raises(ConfigError, match="data_placement"):
        BatchStream(data, 2, torch.device("cpu"), seed=0, placement="disk")
