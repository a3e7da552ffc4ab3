"""Scores: the Fréchet distance, sanity of FID/IS/class accuracy on real MNIST, evaluate(), its cache and errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg
import torch
from torchvision.transforms.functional import gaussian_blur

import ganzoo
from ganzoo.data import ImageData, embedded_mnist
from ganzoo.errors import GanzooError, UnknownNameError
from ganzoo.metrics import (EvaluatorError, MetricsError, Scorer, evaluate, frechet_distance, load_evaluator,
                            real_statistics, score_images)
from ganzoo.metrics import scores as scores_module
from ganzoo.metrics.classifier import stratified_split
from ganzoo.model import GenerativeModel


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- the Fréchet distance ---------------------------------------------------------------------------------------
def scipy_frechet(mu1, s1, mu2, s2) -> float:
    """The textbook formula with scipy's general matrix square root (independent of ours)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def random_gaussian(rng: np.random.Generator, d: int, rank: int | None = None):
    a = rng.normal(size=(d, rank or 2 * d))
    return rng.normal(size=d), a @ a.T / a.shape[1]


@pytest.mark.parametrize("d", [1, 2, 8, 40])
def test_frechet_distance_matches_scipy_on_random_covariances(d: int) -> None:
    rng = np.random.default_rng(d)
    (mu1, s1), (mu2, s2) = random_gaussian(rng, d), random_gaussian(rng, d)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(scipy_frechet(mu1, s1, mu2, s2), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("rank", [1, 5, 12])
def test_frechet_distance_matches_scipy_on_singular_covariances(rank: int) -> None:
    rng = np.random.default_rng(rank)
    d = 16
    (mu1, s1), (mu2, s2) = random_gaussian(rng, d, rank), random_gaussian(rng, d, rank)
    assert np.linalg.matrix_rank(s1) == rank
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(scipy_frechet(mu1, s1, mu2, s2), rel=1e-6, abs=1e-6)


def test_frechet_distance_of_a_gaussian_to_itself_is_zero_and_of_shifted_means_is_the_squared_shift() -> None:
    rng = np.random.default_rng(0)
    mu, s = random_gaussian(rng, 10, 4)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(mu, s, mu + 3.0, s) == pytest.approx(9.0 * 10, rel=1e-9)
    assert isinstance(frechet_distance(torch.tensor(mu), torch.tensor(s), mu, s), float)


def test_frechet_distance_rejects_mismatched_shapes_and_nan() -> None:
    mu, s = np.zeros(3), np.eye(3)
    with pytest.raises(MetricsError, match="same D"):
        frechet_distance(mu, s, np.zeros(4), np.eye(4))
    with pytest.raises(MetricsError, match="NaN"):
        frechet_distance(mu, s * np.nan, mu, s)


# -- sanity on real MNIST with the shipped evaluator -------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist() -> ImageData:
    return embedded_mnist()


@pytest.fixture(scope="module")
def evaluator():
    return load_evaluator("mnist-cnn")


@pytest.fixture(scope="module")
def halves(mnist: ImageData, evaluator):
    """Real statistics of one stratified half of the 5,000 digits, and the other half's images and labels."""
    a, b = stratified_split(mnist.labels, 2500, seed=1)
    real = real_statistics(evaluator, ImageData("half-a", mnist.images[a], mnist.labels[a], 10), use_cache=False)
    return real, mnist.images[b], mnist.labels[b]


def test_fid_of_real_vs_real_is_small_and_of_real_vs_noise_is_large(halves, evaluator) -> None:
    real, images, _ = halves
    same = score_images(images, real, evaluator)["fid"]
    noise = torch.randint(0, 256, images.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    different = score_images(noise, real, evaluator)["fid"]
    assert 0 <= same < 1.0
    assert different > 1000 * same


def test_fid_grows_as_real_images_are_blurred(halves, evaluator) -> None:
    real, images, _ = halves
    fids = [score_images(gaussian_blur(images, 7, sigma) if sigma else images, real, evaluator)["fid"]
            for sigma in (0, 0.6, 1.0, 1.5, 2.5)]
    assert fids == sorted(fids) and fids[-1] > 20 * (fids[0] + 0.1), fids


def test_inception_score_of_real_mnist_approaches_the_number_of_classes(mnist: ImageData, evaluator) -> None:
    real = real_statistics(evaluator, mnist)
    scores = score_images(mnist.images, real, evaluator)
    assert 9.0 < scores["inception_score"] <= 10.0
    assert max(scores["class_distribution"]) < 0.11 and min(scores["class_distribution"]) > 0.09


def test_class_accuracy_of_held_out_real_images_equals_the_evaluators_accuracy(mnist: ImageData, evaluator) -> None:
    fit = evaluator.record["fit"]
    _, held_out = stratified_split(mnist.labels, fit["holdout"], fit["seed"])
    real = real_statistics(evaluator, mnist)
    scores = score_images(mnist.images[held_out], real, evaluator, labels=mnist.labels[held_out])
    assert scores["class_accuracy"] == evaluator.record["heldout_accuracy"]
    assert scores["intra_fid"] is not None and scores["intra_fid"] >= 0


def test_class_accuracy_is_withheld_when_the_evaluator_predicts_other_classes(mnist: ImageData, evaluator) -> None:
    five = ImageData("five-classes", mnist.images[::5], mnist.labels[::5] % 5, 5)
    real = real_statistics(evaluator, five, use_cache=False)
    scores = score_images(five.images, real, evaluator, labels=five.labels)
    assert scores["class_accuracy"] is None and "does not predict the 5 classes" in scores["class_accuracy_note"]


def test_our_float64_fid_agrees_with_torchmetrics_own_compute(halves, evaluator) -> None:
    real, images, _ = halves
    scorer = Scorer(evaluator, real)
    scorer.update(images[:1000])
    ours = scorer.compute()["fid"]
    assert float(scorer.fid.compute()) == pytest.approx(ours, rel=1e-3, abs=1e-3)


def test_too_few_empty_or_nan_images_are_clear_errors(halves, evaluator) -> None:
    real, images, _ = halves
    with pytest.raises(MetricsError, match="more samples than features"):
        score_images(images[:64], real, evaluator)
    with pytest.raises(MetricsError, match="empty"):
        score_images(images[:0], real, evaluator)
    nan = torch.full((100, 1, 28, 28), float("nan"))
    with pytest.raises(MetricsError, match="NaN"):
        score_images(nan, real, evaluator)
    with pytest.raises(MetricsError, match="uint8"):
        score_images(images.float(), real, evaluator)
    assert issubclass(MetricsError, GanzooError)


# -- evaluate() on in-memory models -------------------------------------------------------------------------------
def test_evaluate_scores_an_unconditional_model_and_states_its_protocol() -> None:
    model = ganzoo.create_model("gan")
    scores = evaluate(model, n=200)
    for key in ("fid", "inception_score", "inception_score_std", "kid", "kid_std", "precision", "recall", "density",
                "coverage"):
        assert isinstance(scores[key], float) and np.isfinite(scores[key])
    assert len(scores["class_distribution"]) == 10 and sum(scores["class_distribution"]) == pytest.approx(1.0)
    assert "class_accuracy" not in scores and "intra_fid" not in scores
    p = scores["protocol"]
    assert p["evaluator"] == "mnist-cnn" and len(p["weights_sha256"]) == 64
    assert (p["real_count"], p["fake_count"], p["seed"]) == (5000, 200, 0)
    assert p["real_split"] == "all 5000 images" and p["resize"].startswith("none")
    assert p["kid_subset_size"] == 200  # capped at the sample count
    assert (p["prdc_k"], p["prdc_samples"]) == (5, 200)  # equal-sized subsets: capped at the smaller set
    json.dumps(scores, allow_nan=False)


def test_evaluate_scores_class_accuracy_and_intra_fid_of_a_conditional_model() -> None:
    model = ganzoo.create_model("cgan")
    scores = evaluate(model, n=700)
    assert 0.0 <= scores["class_accuracy"] <= 1.0
    assert scores["intra_fid"] > 0 and len(scores["intra_fid_per_class"]) == 10
    assert scores["protocol"]["labels"].startswith("balanced")


def test_intra_fid_is_skipped_with_a_note_when_classes_have_too_few_samples() -> None:
    scores = evaluate(ganzoo.create_model("cgan"), n=300)
    assert scores["intra_fid"] is None and "needs more than 64" in scores["intra_fid_note"]


def test_evaluate_is_reproducible_and_leaves_the_model_and_global_rng_alone() -> None:
    model = ganzoo.create_model("gan").train()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = evaluate(model, n=150, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert model.training
    second = evaluate(model, n=150, seed=3)
    other = evaluate(model, n=150, seed=4)
    assert first["fid"] == second["fid"] and first["kid"] == second["kid"]
    assert other["fid"] != first["fid"]


def test_real_statistics_are_cached_and_not_recomputed(tmp_path, monkeypatch) -> None:
    model = ganzoo.create_model("gan")
    first = evaluate(model, n=100, cache_dir=tmp_path)
    assert first["real_stats_cached"] is False and len(list(tmp_path.glob("*.pt"))) == 1

    def no_extraction(*args, **kwargs):
        raise AssertionError("real features were extracted again")

    monkeypatch.setattr(scores_module, "extract", no_extraction)
    second = evaluate(model, n=100, cache_dir=tmp_path)
    assert second["real_stats_cached"] is True and second["fid"] == first["fid"]


def test_a_damaged_cache_file_is_recomputed(tmp_path) -> None:
    model = ganzoo.create_model("gan")
    first = evaluate(model, n=100, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("*.pt")
    cached.write_bytes(b"not a tensor file")
    again = evaluate(model, n=100, cache_dir=tmp_path)
    assert again["real_stats_cached"] is False and again["fid"] == first["fid"]


def test_the_cache_key_follows_the_protocol(mnist: ImageData, evaluator, tmp_path) -> None:
    whole = real_statistics(evaluator, mnist, cache_dir=tmp_path)
    subset = real_statistics(evaluator, mnist, n_real=1000, cache_dir=tmp_path)
    assert whole.key != subset.key and subset.count == 1000
    assert subset.info["real_split"] == "random 1000 of 5000 images (seed 0)"


class NaNModel(GenerativeModel):
    """Generates NaN images (a diverged model)."""

    name = "nan-model"

    def sample(self, n, labels=None, *, generator=None):
        return torch.full((n, *self.image_shape), float("nan"))


def test_bad_models_and_settings_are_clear_errors() -> None:
    with pytest.raises(MetricsError, match="NaN"):
        evaluate(NaNModel(), n=100)
    with pytest.raises(MetricsError, match="n = 0"):
        evaluate(ganzoo.create_model("gan"), n=0)
    with pytest.raises(MetricsError, match="more samples than features"):
        evaluate(ganzoo.create_model("gan"), n=64)
    with pytest.raises(MetricsError, match="the model makes 3×32×32 images but data set mnist-embedded holds 1×28×28"):
        evaluate(NaNModel(image_shape=(3, 32, 32)), n=100)
    with pytest.raises(UnknownNameError, match="Did you mean 'mnist-cnn'"):
        evaluate(ganzoo.create_model("gan"), evaluator="mnist-cn", n=100)


def test_the_dataset_picks_the_evaluator_from_zoo_yaml() -> None:
    from ganzoo.metrics import dataset_evaluator

    assert dataset_evaluator("mnist-embedded") == "mnist-cnn"
    assert dataset_evaluator("cifar10") == "inception-v3"
    zoo = ganzoo.config.Zoo({"metrics": {"evaluator": "pixels"}}, "test")
    assert dataset_evaluator("my-folder", zoo) == "pixels"  # a data set zoo.yaml does not name: metrics.evaluator


def test_a_tampered_embedded_evaluator_is_refused(tmp_path, monkeypatch) -> None:
    from ganzoo.metrics import embedded

    bad = tmp_path / "mnist-cnn.pt"
    data = bytearray(embedded.ASSET.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(embedded, "ASSET", bad)
    with pytest.raises(EvaluatorError, match="SHA-256"):
        load_evaluator("mnist-cnn")


# -- ganzoo eval ---------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_checkpoints(monkeypatch):
    """A stand-in for the harness's checkpoint loading in ``ganzoo eval``: RUN_DIR names a model built in memory."""
    import ganzoo.commands.eval

    def load_model(run, device="cpu"):
        name = str(run).rsplit("/", 1)[-1]
        return ganzoo.create_model(name), {"dataset": "mnist-embedded", "model": name}

    monkeypatch.setattr(ganzoo.commands.eval, "load_model", load_model)


def test_ganzoo_eval_json_prints_one_object_with_scores_and_protocol(fake_checkpoints, capsys) -> None:
    from ganzoo.cli import main

    assert main(["eval", "runs/cgan", "--n", "700", "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("fid", "inception_score", "kid", "class_accuracy", "intra_fid", "protocol"):
        assert key in out
    assert out["protocol"]["fake_count"] == 700 and out["model"] == "cgan"

    assert main(["eval", "runs/gan", "--n", "100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "class_accuracy" not in out and "intra_fid" not in out and out["fid"] > 0


def test_ganzoo_eval_shows_precision_recall_density_coverage_with_k_in_the_protocol(fake_checkpoints, capsys,
                                                                                     tmp_path) -> None:
    from ganzoo.cli import main

    zoo = tmp_path / "zoo.yaml"
    zoo.write_text("metrics:\n  prdc_k: 3\ndatasets:\n  mnist-embedded:\n    evaluator: mnist-cnn\n")
    assert main(["eval", "runs/gan", "--n", "100", "--json", "--config", str(zoo)]) == 0
    out = json.loads(capsys.readouterr().out)  # one JSON object: prdc's own print must not get in
    for key in ("precision", "recall", "density", "coverage"):
        assert isinstance(out[key], float) and out[key] >= 0
    assert out["protocol"]["prdc_k"] == 3 and out["protocol"]["prdc_samples"] == 100
    assert main(["eval", "runs/gan", "--n", "100"]) == 0
    table = capsys.readouterr().out
    for text in ("precision", "recall", "density", "coverage", "prdc_k", "prdc_split"):
        assert text in table


def test_ganzoo_eval_prints_tables_and_reports_bad_input(fake_checkpoints, capsys) -> None:
    from ganzoo.cli import main

    assert main(["eval", "runs/gan", "--n", "100"]) == 0
    out = capsys.readouterr().out
    assert "FID" in out and "protocol" in out and "weights_sha256" in out
    assert main(["eval", "runs/gan", "--n", "10"]) == 2
    assert "more samples than features" in capsys.readouterr().err
    assert main(["eval", "runs/gan", "--n", "-5"]) == 2
