"""Evaluators: the shipped MNIST classifier, classifier fitting, InceptionV3 wiring offline, and the CLI."""
from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
import torch

from ganzoo import hookimpl
from ganzoo.data import embedded_mnist
from ganzoo.errors import UnknownNameError
from ganzoo.metrics import Evaluator, EvaluatorError, MetricsError, list_evaluators, load_evaluator
from ganzoo.metrics import embedded, inception
from ganzoo.metrics.classifier import FitConfig, fit_classifier, load_classifier, save_classifier, stratified_split
from ganzoo.metrics.evaluators import sha256_file
from ganzoo.registry import host


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- registry -----------------------------------------------------------------------------------------------------
def test_the_builtin_plugin_registers_its_evaluators() -> None:
    table = host().table("evaluators")
    assert {"mnist-cnn", "mnist-ab-cnn", "inception-v3"} <= set(table)
    for name in ("mnist-cnn", "mnist-ab-cnn"):
        assert table[name].plugin == "evaluators" and table[name].dist == "ganzoo"
    names = [row["name"] for row in list_evaluators()]
    assert {"mnist-cnn", "mnist-ab-cnn", "inception-v3"} <= set(names)


def test_unknown_evaluators_suggest_close_names() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'inception-v3'"):
        load_evaluator("inception-v4")
    with pytest.raises(EvaluatorError, match="does not exist"):
        load_evaluator("missing/evaluator.pt")


# -- the shipped MNIST evaluator --------------------------------------------------------------------------------
def test_the_shipped_mnist_evaluator_is_small_hashed_accurate_and_native() -> None:
    assert embedded.ASSET.stat().st_size < 1_000_000
    assert sha256_file(embedded.ASSET) == embedded.MNIST_CNN_SHA256
    ev = load_evaluator("mnist-cnn")
    assert isinstance(ev, Evaluator)
    assert (ev.input_shape, ev.num_features, ev.num_classes) == ((1, 28, 28), 64, 10)
    assert ev.record["heldout_accuracy"] >= 0.97 and ev.record["heldout_count"] == 1000
    assert ev.weights_sha256 == embedded.MNIST_CNN_SHA256 and ev.protocol()["resize"] == "none (native 1×28×28)"
    ev.train()
    assert not ev.training and not ev.net.training
    features, logits = ev(embedded_mnist().images[:5])
    assert features.shape == (5, 64) and logits.shape == (5, 10)


def test_stratified_split_holds_out_each_class_in_proportion_and_is_seeded() -> None:
    labels = torch.arange(10).repeat_interleave(50)
    train, test = stratified_split(labels, 100, seed=0)
    assert len(test) == 100 and len(train) == 400 and not set(train.tolist()) & set(test.tolist())
    assert torch.bincount(labels[test]).tolist() == [10] * 10
    assert torch.equal(test, stratified_split(labels, 100, seed=0)[1])
    assert not torch.equal(test, stratified_split(labels, 100, seed=1)[1])
    with pytest.raises(MetricsError, match="holdout"):
        stratified_split(labels, 500, seed=0)


def test_fitting_a_classifier_is_deterministic(tmp_path) -> None:
    data = embedded_mnist()
    images, labels = data.images[::10], data.labels[::10]
    cfg = dict(holdout=100, epochs=1, widths=(4, 4, 8, 8), batch_size=50)
    first = fit_classifier(images, labels, 10, FitConfig(**cfg))
    second = fit_classifier(images, labels, 10, FitConfig(**cfg))
    other = fit_classifier(images, labels, 10, FitConfig(**cfg, seed=1))
    a = save_classifier(tmp_path / "a.pt", first[0], image_shape=(1, 28, 28), num_classes=10, record=first[1])
    b = save_classifier(tmp_path / "b.pt", second[0], image_shape=(1, 28, 28), num_classes=10, record=second[1])
    c = save_classifier(tmp_path / "c.pt", other[0], image_shape=(1, 28, 28), num_classes=10, record=other[1])
    assert a == b != c
    loaded = load_classifier(tmp_path / "a.pt", expected_sha256=a)
    assert loaded.num_features == 8 and loaded.record["heldout_count"] == 100
    with pytest.raises(EvaluatorError, match="SHA-256"):
        load_classifier(tmp_path / "a.pt", expected_sha256=c)


def test_a_file_that_is_not_an_evaluator_is_refused(tmp_path) -> None:
    path = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(EvaluatorError, match="not a ganzoo classifier evaluator"):
        load_evaluator(path)
    path.write_bytes(b"garbage")
    with pytest.raises(EvaluatorError, match="cannot be read"):
        load_evaluator(path)


# -- ganzoo evaluator fit / list ----------------------------------------------------------------------------------
def test_evaluator_fit_saves_a_hashed_evaluator_usable_by_name(tmp_path, monkeypatch, capsys) -> None:
    from ganzoo.cli import main

    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path))
    assert main(["evaluator", "fit", "mnist-embedded", "--name", "tiny-mnist", "--epochs", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["name"] == "tiny-mnist" and record["dataset"] == "mnist-embedded"
    assert record["sha256"] == sha256_file(record["path"]) and record["heldout_count"] == 1000
    assert 0.5 < record["heldout_accuracy"] <= 1.0  # one epoch: a working classifier, not yet the shipped one

    assert main(["evaluator", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["tiny-mnist"]["kind"] == "fitted" and rows["tiny-mnist"]["sha256"] == record["sha256"]
    ev = load_evaluator("tiny-mnist")
    assert ev.name == "tiny-mnist" and ev.weights_sha256 == record["sha256"]

    with open(record["path"], "ab") as f:  # tampering breaks the recorded hash
        f.write(b"x")
    with pytest.raises(EvaluatorError, match="SHA-256"):
        load_evaluator("tiny-mnist")
    assert main(["evaluator", "fit", "mnist-embedded", "--name", "mnist-cnn", "--epochs", "1"]) == 2
    assert "taken by a registered evaluator" in capsys.readouterr().err


class Pixels(Evaluator):
    """A plugin's evaluator: mean pixel as the only feature; says itself whether its weights are there."""

    name = "pixels"
    num_features = 1
    weights_present = False

    def __init__(self, weights: str = "") -> None:
        super().__init__()
        self.weights_sha256 = weights

    @classmethod
    def status(cls) -> str:
        return "ready" if cls.weights_present else "weights missing: put pixels.pt in the cache"

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = images.float().mean((1, 2, 3))[:, None]
        return mean, mean


class PixelsPlugin:
    @staticmethod
    @hookimpl
    def register_evaluators(register) -> None:
        register("pixels", Pixels, "mean pixel")


@pytest.fixture
def pixels_plugin():
    host().register_plugin(PixelsPlugin(), name="pixels-plugin")
    try:
        yield
    finally:
        host().unregister_plugin("pixels-plugin")


def test_a_plugin_evaluator_is_listed_with_its_own_status_and_gets_its_options(pixels_plugin) -> None:
    rows = {row["name"]: row for row in list_evaluators()}
    assert rows["pixels"]["status"] == "weights missing: put pixels.pt in the cache"
    assert rows["mnist-cnn"]["status"] == "ready"
    assert load_evaluator("pixels", weights="abc").protocol()["weights_sha256"] == "abc"
    with pytest.raises(MetricsError, match=r"evaluator 'mnist-cnn': bad options \['weights'\]"):
        load_evaluator("mnist-cnn", weights="abc")


def test_evaluator_list_prints_a_table(capsys) -> None:
    from ganzoo.cli import main

    assert main(["evaluator", "list"]) == 0
    out = capsys.readouterr().out
    assert "mnist-cnn" in out and "inception-v3" in out


# -- InceptionV3, offline -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory) -> str:
    """A randomly initialised torch-fidelity InceptionV3 state dict saved to a temp file (no network)."""
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    with mock.patch.object(fe, "load_state_dict_from_url", return_value={}), \
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None), \
            torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return str(path)


@pytest.fixture
def no_downloads(monkeypatch, tmp_path):
    """An empty torch hub cache, no weights variable, and every download path made to fail loudly."""
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(fe, "load_state_dict_from_url", refuse)
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    hub = tmp_path / "torch" / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub / "checkpoints"


def test_missing_inception_weights_name_the_file_the_url_and_where_to_put_them(no_downloads) -> None:
    with pytest.raises(EvaluatorError) as err:
        load_evaluator("inception-v3")
    message = str(err.value)
    assert inception.FILENAME in message and inception.URL in message
    assert str(no_downloads / inception.FILENAME) in message and inception.WEIGHTS_ENV in message
    with pytest.raises(EvaluatorError, match="does not exist"):
        load_evaluator("inception-v3", weights="/nowhere/inception.pth")


def test_inception_weights_are_found_by_path_env_and_hub_cache(no_downloads, random_inception_weights,
                                                                monkeypatch) -> None:
    assert inception.find_weights(random_inception_weights) == Path(random_inception_weights)
    monkeypatch.setenv(inception.WEIGHTS_ENV, random_inception_weights)
    assert str(inception.find_weights()) == random_inception_weights
    monkeypatch.delenv(inception.WEIGHTS_ENV)
    no_downloads.mkdir(parents=True)
    (no_downloads / inception.FILENAME).symlink_to(random_inception_weights)
    assert inception.find_weights() == no_downloads / inception.FILENAME


def test_inception_wiring_with_random_weights(no_downloads, random_inception_weights) -> None:
    ev = load_evaluator("inception-v3", weights=random_inception_weights)
    assert (ev.num_features, ev.num_classes, ev.input_shape) == (2048, None, None)
    grey = embedded_mnist().images[:2]
    features, logits = ev(grey)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.isfinite(features).all() and torch.isfinite(logits).all()
    rgb_features, _ = ev(grey.expand(-1, 3, -1, -1).contiguous())
    assert torch.equal(features, rgb_features)  # grey is repeated to 3 channels
    p = ev.protocol()
    assert p["weights_sha256"] == sha256_file(random_inception_weights) and p["standard_weights"] is False
    assert "antialias=False" in p["resize"] and p["feature_dim"] == 2048
    ev.check_image_shape((3, 32, 32))
    with pytest.raises(MetricsError, match="C = 1 or 3"):
        ev.check_image_shape((4, 32, 32))


def test_damaged_inception_weights_are_a_clear_error(no_downloads, tmp_path) -> None:
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not weights")
    with pytest.raises(EvaluatorError, match="cannot be read"):
        load_evaluator("inception-v3", weights=str(bad))
    torch.save({"fc.weight": torch.zeros(2, 2)}, bad)
    with pytest.raises(EvaluatorError, match="does not hold torch-fidelity InceptionV3 weights"):
        load_evaluator("inception-v3", weights=str(bad))
