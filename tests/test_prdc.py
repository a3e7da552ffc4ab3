"""Precision, recall, density and coverage: the prdc package on known geometries, its subset, its settings."""
from __future__ import annotations

import pytest
import torch

from ganzoo.config import load_zoo
from ganzoo.errors import ConfigError
from ganzoo.metrics import MetricsError, prdc_scores
from ganzoo.metrics.manifold import prdc_protocol, prdc_subset_size

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def clusters(modes: range, per_mode: int, seed: int, d: int = 2) -> torch.Tensor:
    """``per_mode`` points around each of the chosen modes out of 10 fixed, well-separated cluster centres."""
    centres = torch.randn(10, d, generator=torch.Generator().manual_seed(123)) * 50
    g = torch.Generator().manual_seed(seed)
    return torch.cat([centres[i] + torch.randn(per_mode, d, generator=g) for i in modes])


def test_identical_features_score_one_everywhere() -> None:
    real = torch.randn(1000, 64, generator=torch.Generator().manual_seed(0))
    scores = prdc_scores(real, real.clone(), k=5)
    assert scores == pytest.approx({"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}, abs=1e-9)


def test_disjoint_far_apart_sets_score_zero() -> None:
    real = torch.randn(1000, 64, generator=torch.Generator().manual_seed(0))
    fake = torch.randn(1000, 64, generator=torch.Generator().manual_seed(1)) + 100.0
    assert prdc_scores(real, fake, k=5) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_samples_of_half_the_modes_have_full_precision_and_half_recall_and_coverage() -> None:
    real = clusters(range(10), 200, seed=1)       # 10 modes
    fake = clusters(range(5), 400, seed=2)        # fresh samples of 5 of them, as many in all
    s = prdc_scores(real, fake, k=5)
    assert s["precision"] > 0.97                  # every sample is realistic ...
    assert s["recall"] == pytest.approx(0.5, abs=0.03)    # ... but half the real data is never generated
    assert s["coverage"] == pytest.approx(0.5, abs=0.03)
    assert s["density"] == pytest.approx(1.0, abs=0.1)
    # the other way round (which side is real matters): half the samples are unrealistic, all real modes covered
    swapped = prdc_scores(fake, real, k=5)
    assert swapped["precision"] == pytest.approx(0.5, abs=0.03) and swapped["recall"] > 0.97
    # and samples of all ten modes recover everything
    full = prdc_scores(real, clusters(range(10), 200, seed=3), k=5)
    assert min(full["precision"], full["recall"], full["coverage"]) > 0.95


def test_both_sides_are_cut_to_one_seeded_subset_size_and_nothing_is_printed(capsys) -> None:
    real = clusters(range(10), 300, seed=1)
    fake = clusters(range(10), 100, seed=2)
    assert prdc_subset_size(3000, 1000, 5000) == 1000
    assert prdc_subset_size(3000, 1000, 500) == 500
    assert prdc_subset_size(3000, 1000, 0) == 1000
    state = torch.get_rng_state()
    a = prdc_scores(real, fake, samples=500, seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    assert a == prdc_scores(real, fake, samples=500, seed=0)
    assert a != prdc_scores(real, fake, samples=500, seed=1)
    assert capsys.readouterr().out == ""  # compute_prdc's own print would break `ganzoo eval --json`
    p = prdc_protocol(5, 500, 3000, 1000)
    assert p["prdc_k"] == 5 and p["prdc_samples"] == 500
    assert p["prdc_split"].startswith("random 500 of 3000 real and random 500 of 1000 generated")
    assert prdc_protocol(3, 1000, 3000, 1000)["prdc_split"].startswith("random 1000 of 3000 real and all 1000")


def test_bad_input_is_a_clear_error() -> None:
    real = torch.randn(100, 8)
    with pytest.raises(MetricsError, match="at least 7"):
        prdc_scores(real, torch.randn(6, 8), k=5)
    with pytest.raises(MetricsError, match="same D"):
        prdc_scores(real, torch.randn(100, 9))
    with pytest.raises(MetricsError, match="at least 1"):
        prdc_scores(real, real, k=0)
    with pytest.raises(MetricsError, match="NaN"):
        prdc_scores(real, real * float("nan"))


@pytest.mark.parametrize("value", ["0", "101", "2.5", "five", "true"])
def test_invalid_prdc_k_is_a_one_line_config_error(tmp_path, value: str) -> None:
    path = tmp_path / "zoo.yaml"
    path.write_text(f"metrics:\n  prdc_k: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_zoo(path)
    message = str(err.value)
    assert "metrics.prdc_k" in message and "\n" not in message
    assert ("[1, 100]" in message) or ("integer" in message)
    with pytest.raises(ConfigError, match="metrics.prdc_k"):
        load_zoo().with_overrides([f"metrics.prdc_k={value}"])
    assert load_zoo().with_overrides(["metrics.prdc_k=3"]).section("metrics")["prdc_k"] == 3


def test_invalid_prdc_samples_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "zoo.yaml"
    path.write_text("metrics:\n  prdc_samples: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="metrics.prdc_samples"):
        load_zoo(path)
