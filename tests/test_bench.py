"""`ganzoo bench`: files and keys it writes, --reuse, unknown names, resuming an interrupted bench."""
from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from ganzoo.bench.report import leaderboard
from ganzoo.checkpoint import list_checkpoints, read_checkpoint
from ganzoo.cli import main

TINY = ["--set", "gan.g_widths=[32]", "--set", "gan.d_widths=[32]", "--set", "gan.batch_size=16",
        "--set", "cgan.g_widths=[32]", "--set", "cgan.d_widths=[32]", "--set", "cgan.batch_size=16"]


def bench(out: Path, *extra: str) -> int:
    return main(["bench", "gan", "cgan", "--steps", "4", "--n-eval", "256", "--eval-every", "2",
                 "--fid-target", "1e6", "--fid-target", "1e-3",
                 "--out", str(out), "--quiet", "--device", "cpu", *TINY, *extra])


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    assert bench(out) == 0
    return out


def test_bench_writes_results_report_and_pictures(finished: Path) -> None:
    results = json.loads((finished / "results.json").read_text())
    assert [m["model"] for m in results["models"]] == ["gan", "cgan"]
    for m in results["models"]:
        for key in ("model", "steps", "images_per_second", "wall_seconds", "fid", "inception_score", "kid"):
            assert m[key] is not None, key
        assert m["steps"] == 4
        assert (finished / m["samples"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cgan = results["models"][1]
    assert 0.0 <= cgan["class_accuracy"] <= 1.0
    # 256 samples are ~25 per class, fewer than the evaluator's feature width: no number, a reason instead
    assert cgan["intra_fid"] is None and "raise n" in cgan["intra_fid_note"]
    assert "class_accuracy" not in results["models"][0]
    assert {"evaluator", "weights_sha256", "n_eval"} <= set(results["protocol"])
    assert results["environment"]["packages"]["torch"]
    assert results["environment"]["cpu"]
    assert (finished / "fid-curve.png").read_bytes()[:4] == b"\x89PNG"
    report = (finished / "report.md").read_text()
    assert "| gan |" in report and "| cgan |" in report and "samples-cgan.png" in report
    assert "4 steps, 1 seed(s)" in report


def test_bench_reports_precision_recall_density_coverage_with_k_in_the_protocol(finished: Path) -> None:
    results = json.loads((finished / "results.json").read_text())
    for m in results["models"]:
        for key in ("precision", "recall", "density", "coverage"):
            assert isinstance(m[key], float) and m[key] >= 0, key
    assert (results["protocol"]["prdc_k"], results["protocol"]["prdc_samples"]) == (5, 256)
    report = (finished / "report.md").read_text()
    assert "| precision | recall | density | coverage |" in report
    assert "k = 5 nearest neighbours" in report.split("Protocol:", 1)[1].split("\n", 1)[0]
    console = Console(record=True, width=400, file=io.StringIO())
    console.print(leaderboard(results))  # the table `ganzoo bench` prints
    printed = console.export_text()
    assert "coverage" in printed and "k = 5 nearest neighbours" in printed


def test_time_to_quality_is_the_first_scored_step_at_or_below_each_target(finished: Path) -> None:
    results = json.loads((finished / "results.json").read_text())
    assert results["fid_targets"] == [1e6, 1e-3]
    for m in results["models"]:  # any FID is below a million at the first scored step; none is below 0.001
        assert (m["steps_to_fid_1e+06"], m["steps_to_fid_1e+06_reached"]) == (2, "1/1")
        assert (m["steps_to_fid_0.001"], m["steps_to_fid_0.001_reached"]) == (None, "0/1")
    report = (finished / "report.md").read_text()
    assert "steps to FID≤1e+06" in report and "not reached" in report


def test_steps_to_fid() -> None:
    from ganzoo.bench.runner import steps_to_fid

    curve = [{"step": 100, "fid": 9.0}, {"step": 200, "fid": 4.0}, {"step": 300, "fid": 6.0}, {"step": 400, "fid": 3.0}]
    assert [steps_to_fid(curve, t) for t in (10, 5, 4, 3.5, 1)] == [100, 200, 200, 400, None]
    assert steps_to_fid([], 5) is None


def test_reuse_skips_training(finished: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ganzoo.harness

    def no_training(*args, **kwargs):
        raise AssertionError("--reuse must not train again")

    monkeypatch.setattr(ganzoo.harness, "train", no_training)
    assert bench(finished, "--reuse") == 0


def test_unknown_model_fails_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["bench", "gan", "dcgn", "--steps", "2", "--out", str(tmp_path / "out"), "--quiet"])
    assert code != 0
    err = capsys.readouterr().err
    assert "dcgn" in err and "ganzoo list" in err
    assert not (tmp_path / "out" / "runs").exists()


def test_interrupted_bench_resumes_from_finished_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ganzoo.harness

    real_train = ganzoo.harness.train
    trained: list[str] = []

    def train_then_interrupt(opts, **display):
        trained.append(opts.model)
        if opts.model == "cgan":
            raise KeyboardInterrupt
        return real_train(opts, **display)

    monkeypatch.setattr(ganzoo.harness, "train", train_then_interrupt)
    assert bench(tmp_path) == 130
    assert trained == ["gan", "cgan"]
    assert not (tmp_path / "results.json").exists()

    trained.clear()
    monkeypatch.setattr(ganzoo.harness, "train", lambda opts, **display: trained.append(opts.model)
                        or real_train(opts, **display))
    assert bench(tmp_path) == 0
    assert trained == ["cgan"]
    assert len(json.loads((tmp_path / "results.json").read_text())["models"]) == 2


def test_a_run_interrupted_mid_training_resumes_and_keeps_its_fid_curve(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import ganzoo.harness

    real_train = ganzoo.harness.train
    calls: list[tuple[str, bool]] = []

    def half_then_interrupt(opts, **display):  # cgan trains 2 of its 4 steps (one FID point), then an interruption
        calls.append((opts.model, opts.resume))
        if opts.model == "cgan":
            real_train(dataclasses.replace(opts, steps=2), **display)
            raise KeyboardInterrupt
        return real_train(opts, **display)

    monkeypatch.setattr(ganzoo.harness, "train", half_then_interrupt)
    assert bench(tmp_path) == 130
    monkeypatch.setattr(ganzoo.harness, "train", lambda opts, **display: calls.append((opts.model, opts.resume))
                        or real_train(opts, **display))
    assert bench(tmp_path) == 0
    assert calls == [("gan", False), ("cgan", False), ("cgan", True)]
    cgan = json.loads((tmp_path / "results.json").read_text())["models"][1]
    assert [p["step"] for p in cgan["fid_curve"]["0"]] == [2, 4]  # step 2 was scored before the interruption


def test_reuse_trains_afresh_what_changed(finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ganzoo.harness

    out = tmp_path / "copy"
    shutil.copytree(finished, out)
    real_train = ganzoo.harness.train
    calls: list[tuple[str, bool]] = []
    monkeypatch.setattr(ganzoo.harness, "train", lambda opts, **display: calls.append((opts.model, opts.resume))
                        or real_train(opts, **display))
    assert bench(out, "--reuse", "--set", "gan.g_widths=[24]") == 0
    assert calls == [("gan", False)]  # not resumed from the old gan's finished checkpoint; cgan reused
    state = read_checkpoint(list_checkpoints(out / "runs" / "gan-seed0")[-1])
    assert state["config"]["hparams"]["g_widths"] == [24]


def test_fid_targets_need_the_curve(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["bench", "gan", "--fid-target", "5", "--eval-every", "0", "--out", str(tmp_path / "out")])
    assert code == 2 and "--eval-every" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _results(*rows: dict) -> dict:
    """A results.json-like object of the given model rows, with FID targets 1e6 and 1e-3."""
    env = {"cpu": "test cpu", "device": "cpu", "gpu": None, "packages": {"torch": "x", "torchmetrics": "y"}}
    return {"dataset": "mnist-embedded", "budget": {"steps": 4, "minutes": None, "seeds": 1},
            "fid_targets": [1e6, 1e-3], "protocol": {"evaluator": "mnist-cnn", "fid_curve_samples": 256},
            "environment": env, "models": list(rows)}


def _row(model: str, points: list[float]) -> dict:
    """A model's row as runner.aggregate writes it for one seed whose FID curve holds ``points``."""
    from ganzoo.bench.runner import steps_to_fid

    curve = [{"step": 2 * (i + 1), "fid": fid} for i, fid in enumerate(points)]
    row = {"model": model, "steps": 2 * len(points), "fid": points[-1] if points else 9.0, "fid_curve": {"0": curve}}
    for target in (1e6, 1e-3):
        key, step = f"steps_to_fid_{target:g}", steps_to_fid(curve, target)
        row[key], row[f"{key}_reached"] = step, f"{int(step is not None)}/1"
    return row


def _targets(text: str, model: str) -> list[str]:
    """The two time-to-quality cells of ``model``'s row in report.md."""
    line = next(line for line in text.splitlines() if line.startswith(f"| {model} |"))
    return [cell.strip().strip("*") for cell in line.strip("|").split("|")][-2:]


def test_a_single_point_fid_curve_claims_no_time_to_quality() -> None:
    from ganzoo.bench.report import best_per_column, columns, markdown

    results = _results(_row("one", [430.0]), _row("two", [500.0, 430.0]), _row("none", []))
    report = markdown(results, {}, None)
    # one scored point (the end of training) says nothing about when a quality was reached, nor that it was not
    assert _targets(report, "one") == ["1 point: not enough to say"] * 2
    assert _targets(report, "two") == ["2", "not reached"]  # a curve: the first step at or below, or not reached
    assert _targets(report, "none") == ["—", "—"]  # no curve at all: nothing measured, nothing claimed
    assert "FID curve (256 samples)" in report.split("Protocol:", 1)[1].split("\n", 1)[0]
    best = best_per_column(results["models"], columns(results))
    assert "steps_to_fid_1e+06" not in best  # the single point's step 2 is no time to beat
    console = Console(record=True, width=400, file=io.StringIO())
    console.print(leaderboard(results))
    assert "1 point: not enough to say" in console.export_text()
