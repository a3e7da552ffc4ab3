"""Bounds and environment variables: every count a user gives is bounded before anything is allocated, and every
variable ganzoo reads is checked, each mistake one line naming the flag or variable."""
from __future__ import annotations

from pathlib import Path

import pytest

from ganzoo.cli import main


def cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str]:
    """``ganzoo ARGV`` in-process: (exit code, the one error line)."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    return code, lines[0] if len(lines) == 1 else err


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-step gan run."""
    out = tmp_path_factory.mktemp("bounds") / "run"
    assert main(["train", "gan", "--steps", "1", "--set", "train.sample_every=0", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.parametrize("argv,needle", [
    (("eval", "{run}", "--n", "29570819959"), "--n 29570819959: must be a number in [1, 200000]"),
    (("eval", "{run}", "--batch-size", "10000000000"), "--batch-size 10000000000: must be a number in [1, 65536]"),
    (("sample", "{run}", "--n", "100000000"), "--n 100000000: ask for 1 to 100,000 samples"),
    (("bench", "gan", "--n-eval", "1000000", "--out", "{tmp}"), "--n-eval 1000000: must be a number in [1, 200000]"),
])
def test_counts_are_bounded_before_anything_is_allocated(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                         argv: tuple, needle: str) -> None:
    args = [a.format(run=run, tmp=tmp_path / "out") for a in argv]
    code, line = cli(capsys, *args)
    assert code == 2 and line.startswith("error:") and needle in line, line
    assert not (tmp_path / "out" / "runs").exists()


def test_a_zoo_file_cannot_lift_the_bounds(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text("metrics:\n  n_eval: 100000000\n")
    code, line = cli(capsys, "bench", "gan", "--config", zoo, "--out", tmp_path / "out")
    assert code == 2 and "metrics.n_eval: 100000000 is not allowed" in line and str(zoo) in line


@pytest.mark.parametrize("env,needle", [
    ({"WORLD_SIZE": "18446744073709551616"}, "WORLD_SIZE='18446744073709551616' is not an integer from 1"),
    ({"WORLD_SIZE": "x"}, "WORLD_SIZE='x' is not an integer"),
    ({"WORLD_SIZE": "2", "RANK": "x", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}, "RANK='x' is not an integer"),
    ({"WORLD_SIZE": "2", "LOCAL_RANK": "5", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     "LOCAL_RANK='5' is not an integer from 0 to 1"),
    ({"WORLD_SIZE": "2"}, "MASTER_ADDR and MASTER_PORT unset; launch with torchrun"),
])
def test_torchrun_variables_are_checked_naming_the_variable(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch, env: dict,
                                                            needle: str) -> None:
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, line = cli(capsys, "train", "gan", "--steps", "1", "--out", tmp_path / "run", "--quiet")
    assert code == 2 and needle in line, line
    assert not (tmp_path / "run").exists()


def test_an_unwritable_cache_costs_time_not_the_run(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """$GANZOO_CACHE under a file: training and scoring still work; saving a fitted evaluator there names it."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GANZOO_CACHE", str(blocker / "cache"))
    code, line = cli(capsys, "bench", "gan", "--steps", "1", "--n-eval", "100", "--eval-every", "0", "--out",
                     tmp_path / "out", "--quiet", "--json")
    assert code == 0, line
    code, line = cli(capsys, "evaluator", "fit", "mnist-embedded", "--epochs", "1")
    assert code == 2 and "cannot write the evaluator to" in line and "$GANZOO_CACHE" in line, line


def test_a_terminal_that_cannot_encode_unicode_gets_question_marks_not_a_traceback(tmp_path: Path) -> None:
    """PYTHONIOENCODING=ascii (or an old locale): tables and '×'/'—' in messages must not fail the command."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    for argv in (["info", "gan"], ["datasets"], ["train", "gan", "--steps", "0"]):
        done = subprocess.run([sys.executable, "-m", "ganzoo", *argv], env=env, capture_output=True, text=True,
                              encoding="ascii", errors="strict", cwd=tmp_path, timeout=120)
        assert done.returncode in (0, 2) and "Traceback" not in done.stderr, (argv, done.stderr[-500:])
    assert "total" in subprocess.run([sys.executable, "-m", "ganzoo", "info", "gan"], env=env, capture_output=True,
                                     text=True, encoding="ascii", cwd=tmp_path, timeout=120).stdout


def test_a_bench_out_that_cannot_be_a_folder_is_refused_before_training(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out in (blocker, blocker / "below"):
        code, line = cli(capsys, "bench", "gan", "--steps", "1", "--n-eval", "100", "--eval-every", "0", "--out",
                         out, "--quiet")
        assert code == 2 and f"--out {out}: cannot make the folder" in line, line
