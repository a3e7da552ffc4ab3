"""Scores of a translation model (issue 13): A→B translations of domain-A images against real domain B, the share
that keeps its source's evaluator class, the untranslated baseline — in evaluate(), `ganzoo eval` and `ganzoo bench`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import ganzoo
from ganzoo.cli import main
from ganzoo.data import DataSpec, to_unit_range
from ganzoo.metrics import MetricsError, evaluate
from ganzoo.translation import TranslationModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Two digits of the embedded MNIST as the two domains: 500 threes (A) and 500 eights (B).
THREES_EIGHTS = DataSpec("mnist-embedded", {"classes": [3, 8]})
TINY = {"g_channels": 4, "g_blocks": 1, "d_channels": 4}
TINY_SET = ["--set", "cyclegan.g_channels=4", "--set", "cyclegan.g_blocks=1", "--set", "cyclegan.d_channels=4"]


class Identity(TranslationModel):
    """A "translator" that gives back its input: it keeps every class and does no better than the sources."""

    name = "identity-translator"

    def __init__(self, hparams: Any = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 2) -> None:
        super().__init__(hparams, image_shape, num_classes)
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.optimizers = {}

    def train_step(self, batch: Any, step: int) -> dict[str, float]:
        return {}

    def translate(self, images: torch.Tensor, source_domain: int) -> torch.Tensor:
        return images.clone()


class Swap(Identity):
    """A "translator" that answers every image with a real image of the other domain (B for A): B-like statistics."""

    name = "swap-translator"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        data = THREES_EIGHTS.load()
        self.domains = [to_unit_range(data.images[data.labels == d]) for d in (0, 1)]
        self.used = 0

    def translate(self, images: torch.Tensor, source_domain: int) -> torch.Tensor:
        pool = self.domains[1 - source_domain]
        picked = pool[torch.arange(self.used, self.used + len(images)) % len(pool)]
        self.used += len(images)
        return picked


@pytest.fixture(scope="module")
def cyclegan() -> Any:
    return ganzoo.create_model("cyclegan", **TINY)


def test_evaluate_scores_a_translation_model_a_to_b_against_real_b(cyclegan: Any) -> None:
    cyclegan.train()
    state = torch.get_rng_state()
    scores = evaluate(cyclegan, dataset=THREES_EIGHTS, n=200)
    assert torch.equal(torch.get_rng_state(), state) and cyclegan.training
    for key in ("fid", "fid_untranslated", "kid", "inception_score", "precision", "coverage"):
        assert isinstance(scores[key], float) and scores[key] >= 0, key
    assert 0.0 <= scores["class_kept"] <= 1.0
    assert scores["fid"] != scores["fid_untranslated"]
    assert "class_accuracy" not in scores and "intra_fid" not in scores
    p = scores["protocol"]
    assert p["translation"] == ("A→B: 200 source images of domain A (class 0 '3') translated, against 500 real "
                                "images of domain B (class 1 '8')")
    assert p["sources"] == "random 200 of 500 images of domain A (seed 0)"
    assert (p["real_count"], p["fake_count"]) == (500, 200) and "domain B" in p["dataset"]
    assert "source image" in p["class_kept"] and "baseline" in p["fid_untranslated"]
    assert p["generator"] == "trained weights"
    json.dumps(scores, allow_nan=False)
    again = evaluate(cyclegan, dataset=THREES_EIGHTS, n=200)
    assert (again["fid"], again["class_kept"]) == (scores["fid"], scores["class_kept"])


def test_an_identity_translator_keeps_every_class_and_scores_the_untranslated_fid() -> None:
    scores = evaluate(Identity(), dataset=THREES_EIGHTS, n=1000)  # more than domain A holds: all of them
    assert scores["class_kept"] == 1.0
    assert scores["fid"] == pytest.approx(scores["fid_untranslated"], rel=1e-9)
    assert scores["protocol"]["sources"] == "all 500 images of domain A"
    assert scores["protocol"]["fake_count"] == 500


def test_a_translator_answering_with_real_b_images_beats_the_untranslated_baseline() -> None:
    scores = evaluate(Swap(), dataset=THREES_EIGHTS, n=300)
    assert scores["fid"] < scores["fid_untranslated"] / 5
    assert scores["class_kept"] < 0.05  # a 3 became an 8: the evaluator's class changed


def test_translation_scores_need_two_domains_and_the_models_image_shape(cyclegan: Any) -> None:
    with pytest.raises(MetricsError, match=r"10 classes.*classes=\[3,8\]"):
        evaluate(cyclegan, dataset="mnist-embedded", n=200)
    with pytest.raises(MetricsError, match="1 class;"):
        evaluate(cyclegan, dataset=DataSpec("mnist-embedded", {"classes": [3]}), n=200)
    with pytest.raises(MetricsError, match="3×28×28 images"):
        evaluate(ganzoo.create_model("cyclegan", image_shape=(3, 28, 28), **TINY), dataset=THREES_EIGHTS, n=200)


# -- ganzoo eval ---------------------------------------------------------------------------------------------------
@pytest.fixture
def cyclegan_run(monkeypatch: pytest.MonkeyPatch, cyclegan: Any) -> str:
    """``ganzoo eval`` of a run folder that holds the tiny cyclegan, trained on threes (A) and eights (B)."""
    import ganzoo.commands.eval

    meta = {"model": "cyclegan", "config": THREES_EIGHTS.record()}
    monkeypatch.setattr(ganzoo.commands.eval, "load_model", lambda run, device="cpu": (cyclegan, meta))
    return "runs/cyclegan"


def test_ganzoo_eval_prints_the_translation_scores_and_protocol(cyclegan_run: str, capsys) -> None:
    assert main(["eval", cyclegan_run, "--n", "200", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for text in ("FID A→B vs real B", "FID untranslated A vs B (baseline)", "class kept A→B", "translation",
                 "domain A (class 0 '3')"):
        assert text in out, text
    assert main(["eval", cyclegan_run, "--n", "200", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["translates"] is True and 0 <= result["class_kept"] <= 1
    assert result["fid_untranslated"] > 0 and result["protocol"]["fake_count"] == 200


def test_ganzoo_eval_of_a_translation_model_on_three_classes_is_a_clear_error(cyclegan_run: str, capsys) -> None:
    assert main(["eval", cyclegan_run, "--n", "200", "--data-option", "classes=[3,8,0]"]) == 2
    assert "has 3 classes" in capsys.readouterr().err


# -- ganzoo bench --------------------------------------------------------------------------------------------------
def test_bench_of_a_translation_model_reports_class_kept_and_the_baseline(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "cyclegan", "--steps", "2", "--n-eval", "200", "--eval-every", "2", "--data-option",
                 "classes=[3,8]", "--out", str(out), "--quiet", "--device", "cpu", *TINY_SET]) == 0
    results = json.loads((out / "results.json").read_text())
    row = results["models"][0]
    assert row["translates"] is True and 0 <= row["class_kept"] <= 1 and row["fid_untranslated"] > 0
    assert [p["step"] for p in row["fid_curve"]["0"]] == [2]  # the curve scores translations too
    assert results["protocol"]["translation"].startswith("A→B: 200 source images of domain A")
    report = (out / "report.md").read_text()
    assert "| class kept |" in report and "| FID untranslated |" in report
    assert "A→B translations against real B" in report.split("Protocol:", 1)[1]
    assert "class kept" in (out / "report.html").read_text()
    assert (out / row["samples"]).read_bytes()[:4] == b"\x89PNG"


def test_bench_refuses_a_translation_model_on_ten_classes_before_training(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "cyclegan", "dcgan", "--steps", "2", "--n-eval", "200", "--out", str(out), "--quiet",
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "cyclegan translates images" in err and "10 classes" in err and "classes=[3,8]" in err
    assert not out.exists()


def test_scores_of_translation_and_sampling_models_are_not_ranked_against_each_other() -> None:
    from ganzoo.bench.report import best_per_column, columns

    models = [{"model": "cyclegan", "translates": True, "fid": 2.0, "class_kept": 0.9, "images_per_second": 10.0},
              {"model": "dcgan", "fid": 3.0, "images_per_second": 20.0},
              {"model": "gan", "fid": 4.0, "images_per_second": 5.0}]
    best = best_per_column(models, columns({"fid_targets": []}))
    assert best == {"images_per_second": "dcgan"}
