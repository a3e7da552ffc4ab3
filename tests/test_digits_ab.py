"""mnist-ab, the offline two-domain digits (issue 13), and its shipped evaluator mnist-ab-cnn."""
from __future__ import annotations

import pytest
import torch

from ganzoo.data import ImageData, embedded_mnist, list_datasets, load_dataset
from ganzoo.digits_ab import source_indices, split_sources, two_domain_digits
from ganzoo.metrics import EvaluatorError, list_evaluators, load_evaluator
from ganzoo.metrics import embedded_ab
from ganzoo.metrics.evaluators import sha256_file
from ganzoo.registry import host


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ab() -> tuple[ImageData, torch.Tensor]:
    return two_domain_digits()


def _a(data: ImageData) -> torch.Tensor:
    return data.images[data.labels == 0]


def _b(data: ImageData) -> torch.Tensor:
    return data.images[data.labels == 1]


def _border(images: torch.Tensor) -> torch.Tensor:
    """The outermost ring of pixels, (N, C, 108): blank in most MNIST digits (83 of the 5,000 touch it)."""
    top, bottom = images[:, :, 0, :], images[:, :, -1, :]
    left, right = images[:, :, 1:-1, 0], images[:, :, 1:-1, -1]
    return torch.cat([top, bottom, left, right], dim=2)


def _b_masks(images: torch.Tensor) -> torch.Tensor:
    """Where a B image's stroke covers at least half a pixel: its distance from the background colour (the corner's:
    no MNIST digit touches a corner), relative to the farthest pixel's (every digit has fully inked pixels)."""
    x = images.float()
    bg = x[:, :, :1, :1]
    dist = (x - bg).norm(dim=1)
    return dist > 0.5 * dist.amax(dim=(1, 2), keepdim=True)


# -- the data set -------------------------------------------------------------------------------------------------
def test_shape_dtype_labels_and_class_names(ab) -> None:
    data, digits = ab
    assert data.name == "mnist-ab" and len(data) == 5000 and data.image_shape == (3, 28, 28)
    assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
    assert data.num_classes == 2 and data.class_names == ["A", "B"]
    assert torch.bincount(data.labels).tolist() == [2500, 2500]
    assert digits.shape == (5000,) and digits.dtype == torch.int64
    for domain in (0, 1):
        assert torch.bincount(digits[data.labels == domain], minlength=10).tolist() == [250] * 10


def test_the_domains_come_from_disjoint_source_images_each_used_once(ab) -> None:
    data, digits = ab
    mnist = embedded_mnist()
    source = source_indices()
    assert sorted(source.tolist()) == list(range(5000))  # a permutation: every digit image used exactly once
    a_src, b_src = source[data.labels == 0], source[data.labels == 1]
    assert not set(a_src.tolist()) & set(b_src.tolist())
    assert torch.equal(digits, mnist.labels[source])
    assert torch.equal(_a(data)[:, :1], mnist.images[a_src])  # A is its source digit as it is
    # B draws its own sources' shapes (recovered from the pixels), and no A image's digit mask is any B image's
    b_masks = _b_masks(_b(data))
    src_masks = mnist.images[b_src, 0] > 127
    iou = (b_masks & src_masks).sum((1, 2)).float() / (b_masks | src_masks).sum((1, 2)).float()
    assert float(iou.min()) > 0.6 and float(iou.mean()) > 0.95
    a_masks = {bytes(m.flatten().tolist()) for m in (_a(data)[:, 0] > 127).to(torch.uint8)}
    b_keys = {bytes(m.flatten().tolist()) for m in b_masks.to(torch.uint8)}
    assert len(a_masks) == 2500 and not a_masks & b_keys


def test_the_split_halves_each_digit_with_its_seed() -> None:
    labels = embedded_mnist().labels
    a, b = split_sources(labels)
    assert len(a) == len(b) == 2500 and torch.equal(torch.cat([a, b]).sort().values, torch.arange(5000))
    assert torch.bincount(labels[a]).tolist() == [250] * 10
    other = split_sources(labels, seed=1)[0]
    assert not torch.equal(a, other)


def test_it_is_deterministic_across_calls(ab) -> None:
    data, digits = ab
    again, digits_again = two_domain_digits()
    assert torch.equal(data.images, again.images) and torch.equal(data.labels, again.labels)
    assert torch.equal(digits, digits_again)


def test_a_is_grey_on_black(ab) -> None:
    a = _a(ab[0])
    assert torch.equal(a[:, 0], a[:, 1]) and torch.equal(a[:, 0], a[:, 2])
    assert int(_border(a).median(dim=2).values.max()) == 0 and float((_border(a) == 0).double().mean()) > 0.99
    assert float(a.float().mean()) < 0.2 * 255  # mostly black


def test_b_is_coloured_on_a_light_background(ab) -> None:
    data, _ = ab
    b = _b(data).float() / 255
    border = _border(b).median(dim=2).values  # (N, 3): each image's background colour
    assert float(border.min()) >= 0.7  # light: value ≥ 0.85 and saturation ≤ 0.15 leave every channel ≥ 0.72
    assert float(border.mean()) > 0.8
    top, low = border.amax(1), border.amin(1)
    assert float(((top - low) / top).max()) <= 0.16  # a faint tint, not a colour
    assert float(((top - low) / top).mean()) > 0.03  # but tinted, and not all alike
    b_src = source_indices()[data.labels == 1]
    inked = embedded_mnist().images[b_src, 0] == 255  # fully inked stroke pixels show the stroke's colour
    hi, lo = b.amax(1), b.amin(1)
    saturation = ((hi - lo) / hi.clamp_min(1e-6))[inked]
    assert float(saturation.min()) >= 0.78 and float(hi[inked].min()) >= 0.79
    hues = b.permute(0, 2, 3, 1)[inked]  # many colours across the domain, not one
    assert hues.argmax(1).unique().numel() == 3


def test_it_is_registered_and_loads_by_name(ab) -> None:
    assert "mnist-ab" in list_datasets()
    entry = host().table("datasets")["mnist-ab"]
    assert entry.plugin == "datasets" and "disjoint" in entry.description
    data = load_dataset("mnist-ab")
    assert torch.equal(data.images, ab[0].images) and torch.equal(data.labels, ab[0].labels)
    only_b = load_dataset("mnist-ab", classes=["B"])
    assert len(only_b) == 2500 and only_b.class_names == ["B"]


# -- the evaluator --------------------------------------------------------------------------------------------------
def test_the_evaluator_is_registered_hashed_and_reads_3x28x28() -> None:
    assert "mnist-ab-cnn" in host().table("evaluators")
    assert {r["name"]: r["status"] for r in list_evaluators()}["mnist-ab-cnn"] == "ready"
    assert embedded_ab.ASSET.stat().st_size < 1_000_000
    assert sha256_file(embedded_ab.ASSET) == embedded_ab.MNIST_AB_CNN_SHA256
    ev = load_evaluator("mnist-ab-cnn")
    assert (ev.input_shape, ev.num_features, ev.num_classes) == ((3, 28, 28), 64, 10)
    assert ev.weights_sha256 == embedded_ab.MNIST_AB_CNN_SHA256
    assert ev.record["dataset"] == "mnist-ab" and ev.record["heldout_count"] == 1000
    assert min(ev.record["heldout_accuracy_by_domain"].values()) >= 0.97


def test_a_tampered_evaluator_is_refused(tmp_path, monkeypatch) -> None:
    bad = tmp_path / "mnist-ab-cnn.pt"
    data = bytearray(embedded_ab.ASSET.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(embedded_ab, "ASSET", bad)
    with pytest.raises(EvaluatorError, match="SHA-256"):
        load_evaluator("mnist-ab-cnn")


def test_the_evaluator_tells_the_held_out_digits_of_each_domain(ab) -> None:
    data, digits = ab
    _, test = embedded_ab.heldout_split(data.labels, digits)
    assert len(test) == 1000
    assert torch.bincount(data.labels[test] * 10 + digits[test]).tolist() == [50] * 20
    ev = load_evaluator("mnist-ab-cnn")
    with torch.no_grad():
        features, logits = ev(data.images[test])
    assert features.shape == (1000, 64) and logits.shape == (1000, 10)
    for domain in (0, 1):
        mine = data.labels[test] == domain
        acc = float((logits[mine].argmax(1) == digits[test][mine]).double().mean())
        assert acc >= 0.95, f"domain {'AB'[domain]}: {acc:.3f}"


def test_zoo_yaml_scores_mnist_ab_with_its_evaluator() -> None:
    from ganzoo.metrics import dataset_evaluator

    assert dataset_evaluator("mnist-ab") == "mnist-ab-cnn"


def test_the_evaluators_features_tell_the_domains_apart(ab) -> None:
    """FID must see whether a translation changed the domain: real A vs real B far above two halves of B."""
    from ganzoo.metrics import frechet_distance

    data, _ = ab
    ev = load_evaluator("mnist-ab-cnn")
    with torch.no_grad():
        a, _ = ev(data.images[data.labels == 0])
        b, _ = ev(data.images[data.labels == 1])

    def moments(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = f.double()
        return f.mean(0), torch.cov(f.T)

    between = frechet_distance(*moments(a), *moments(b))
    within = frechet_distance(*moments(b[::2]), *moments(b[1::2]))
    assert between > 50 * within, (between, within)
