"""The run folder's promises: one writer at a time, no symlink followed, pruning that keeps what loads, write errors
that name the path and leave no temporary file, Ctrl-C and SIGTERM at any moment leave a whole checkpoint, and
``--resume`` that falls back past what does not load and refuses contradicting flags."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import ganzoo

from ganzoo.checkpoint import list_checkpoints, read_checkpoint, save_checkpoint
from ganzoo.cli import main
from ganzoo.data import ImageData
from ganzoo.errors import CheckpointError, ConfigError
from ganzoo.harness import TrainingInterrupted, TrainOptions, train
from ganzoo.model import GenerativeModel
from ganzoo.registry import host
from ganzoo.testing import assert_same_state
from ganzoo_builtin.gan import GAN

TINY = ["gan.g_widths=[16]", "gan.d_widths=[16]", "gan.latent_dim=8", "train.log_every=1",
        "train.sample_every=0", "train.checkpoint_every=3", "train.sample_grid=4", "train.keep_checkpoints=2"]
CLI = ["train", "gan", "--steps", "6", "--batch-size", "8", "--seed", "0", "--device", "cpu",
       *sum((["--set", t] for t in TINY), [])]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(out: Path, steps: int = 6, **kw: Any) -> Any:
    opts = {"model": "gan", "steps": steps, "batch_size": 8, "seed": 0, "out": str(out), "device": "cpu",
            "overrides": list(TINY)}
    opts.update(kw)
    return train(TrainOptions(**opts), quiet=True)


def steps_on_disk(run_dir: Path) -> list[int]:
    return [int(p.stem.split("-")[1]) for p in list_checkpoints(run_dir)]


def final_state(run_dir: Path) -> dict[str, Any]:
    blob = read_checkpoint(list_checkpoints(run_dir)[-1])
    return {"step": blob["step"], "state": blob["state"], "rng": blob["rng"], "data": blob["data"]}


def leftovers(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.rglob("*") if ".tmp" in p.name)


# -- one writer per run folder ------------------------------------------------------------------------------------
HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from ganzoo.rundir import RunDir
    with RunDir(sys.argv[1]).lock():
        print("locked", flush=True)
        sys.stdin.read()
""")


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "r")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=rf"in use by process {holder.pid}\b.*another --out"):
            run(tmp_path / "r")
        assert not list_checkpoints(tmp_path / "r")
    finally:
        holder.communicate("", timeout=60)
    run(tmp_path / "r", steps=3)  # the holder has gone: its lock went with it
    assert steps_on_disk(tmp_path / "r") == [3]


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / ".lock").write_text(dead.stdout)
    run(tmp_path / "r", steps=3)
    assert steps_on_disk(tmp_path / "r") == [3]


# -- symlinks are refused, never followed ------------------------------------------------------------------------
@pytest.mark.parametrize("link", ["samples", "checkpoints", "metrics.jsonl", "config.yaml"])
def test_a_symlink_inside_the_run_folder_is_refused(tmp_path: Path, link: str) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "step-00000003.png").write_bytes(b"the user's file")
    (outside / "step-00000003.pt").write_bytes(b"the user's file")
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    target = outside if link in ("samples", "checkpoints") else outside / "elsewhere.txt"
    (run_dir / link).symlink_to(target)
    for resume in (False, True):
        with pytest.raises((ConfigError, CheckpointError), match="symbolic link"):
            run(run_dir, resume=resume, overwrite=not resume)
    assert sorted(p.name for p in outside.iterdir()) == ["step-00000003.png", "step-00000003.pt"]
    assert (outside / "step-00000003.png").read_bytes() == b"the user's file"


# -- pruning --------------------------------------------------------------------------------------------------------
def test_pruning_keeps_the_newest_checkpoints_that_load(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run(run_dir, steps=6)
    assert steps_on_disk(run_dir) == [3, 6]
    for step in (97, 98, 99):  # damaged files numbered above the real ones
        (run_dir / "checkpoints" / f"step-{step:08d}.pt").write_bytes(b"PK\x03\x04 truncated")
    summary = run(run_dir, steps=10, resume=True)
    assert Path(summary.checkpoint).is_file() and Path(summary.checkpoint).name == "step-00000010.pt"
    assert summary.resumed_from == run_dir / "checkpoints" / "step-00000006.pt"
    good = [s for s in steps_on_disk(run_dir) if s < 97]
    assert good == [9, 10]  # the newest two that load, by step; the damaged ones are not counted as kept
    assert read_checkpoint(run_dir / "checkpoints" / "step-00000010.pt")["step"] == 10


def test_pruning_never_deletes_the_file_just_written_nor_the_last_good_one(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run(run_dir, steps=3, overrides=[*TINY, "train.keep_checkpoints=1"])
    run(run_dir, steps=7, resume=True, overrides=[*TINY, "train.keep_checkpoints=1"])
    assert steps_on_disk(run_dir) == [7]


# -- write errors --------------------------------------------------------------------------------------------------
def test_a_write_error_inside_torch_save_names_the_path_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A real write failure (RLIMIT_FSIZE: the kernel refuses to grow a file) while a checkpoint is written; torch
    wraps such errors in a RuntimeError, which used to escape as a traceback."""
    run_dir = tmp_path / "r"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def fill_the_disk(step: int, model: GenerativeModel) -> None:
        if step == 4:
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))

    try:
        with pytest.raises(CheckpointError) as err:
            run(run_dir, steps=9, callback=fill_the_disk, callback_every=1)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    text = str(err.value)
    assert str(run_dir / "checkpoints" / "step-00000006.pt") in text and "File too large" in text
    assert "\n" not in text
    assert leftovers(run_dir) == []
    assert steps_on_disk(run_dir) == [3]
    assert read_checkpoint(run_dir / "checkpoints" / "step-00000003.pt")["step"] == 3


# -- Ctrl-C and SIGTERM ----------------------------------------------------------------------------------------------
def signals_in_train_step(monkeypatch: pytest.MonkeyPatch, at_step: int, *sigs: int) -> None:
    real_step = GAN.train_step

    def interrupted(self, batch, step):
        if step == at_step:
            for sig in sigs:
                os.kill(os.getpid(), sig)
        return real_step(self, batch, step)

    monkeypatch.setattr(GAN, "train_step", interrupted)


@pytest.mark.parametrize("sigs", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT)])
def test_two_quick_signals_still_leave_a_whole_checkpoint_at_a_step_boundary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigs: tuple[int, ...]) -> None:
    signals_in_train_step(monkeypatch, 4, *sigs)
    with pytest.raises(TrainingInterrupted) as stopped:
        run(tmp_path / "r", steps=8, overrides=[*TINY, "train.checkpoint_every=0"])
    monkeypatch.undo()
    assert stopped.value.step == 5 and stopped.value.signum == sigs[0]
    blob = read_checkpoint(list_checkpoints(tmp_path / "r")[-1])
    assert blob["step"] == 5 and not blob.get("partial_step")
    run(tmp_path / "r", steps=8, resume=True, overrides=[*TINY, "train.checkpoint_every=0"])
    run(tmp_path / "whole", steps=8, overrides=[*TINY, "train.checkpoint_every=0"])
    assert_same_state(final_state(tmp_path / "whole"), final_state(tmp_path / "r"))


def test_a_signal_while_a_checkpoint_is_written_finishes_the_write(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real_save = torch.save

    def save_interrupted(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("step") == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_interrupted)
    with pytest.raises(TrainingInterrupted) as stopped:
        run(tmp_path / "r", steps=8)
    monkeypatch.undo()
    assert stopped.value.step == 3 and steps_on_disk(tmp_path / "r") == [3]
    assert read_checkpoint(list_checkpoints(tmp_path / "r")[-1])["step"] == 3
    assert leftovers(tmp_path / "r") == []


class CtrlCWhileLoading:
    """A data set whose loader is interrupted by Ctrl-C (the user presses it while the data loads)."""

    @ganzoo.hookimpl
    def register_datasets(self, register) -> None:
        def load(root, download=False):
            os.kill(os.getpid(), signal.SIGINT)
            gen = torch.Generator().manual_seed(0)
            return ImageData("slow", torch.randint(0, 256, (32, 1, 8, 8), generator=gen, dtype=torch.uint8),
                             torch.arange(32) % 4, 4)

        register("slow", load)


def test_a_signal_while_the_data_loads_stops_cleanly_at_step_0(tmp_path: Path) -> None:
    host().register_plugin(CtrlCWhileLoading(), name="test-ctrl-c")
    try:
        with pytest.raises(TrainingInterrupted) as stopped:
            run(tmp_path / "r", steps=5, dataset="slow")
    finally:
        host().unregister_plugin("test-ctrl-c")
    assert stopped.value.step == 0
    assert read_checkpoint(list_checkpoints(tmp_path / "r")[-1])["step"] == 0  # a whole checkpoint, resumable


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_cli_exits_with_the_signal_code_and_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture, sig: int, code: int) -> None:
    signals_in_train_step(monkeypatch, 2, sig, signal.SIGINT)
    assert main([*CLI, "--quiet", "--out", str(tmp_path / "r")]) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--resume" in err and "Traceback" not in err
    assert read_checkpoint(list_checkpoints(tmp_path / "r")[-1])["step"] == 3


def test_two_ctrl_c_in_a_real_process_exit_130_without_a_traceback(tmp_path: Path) -> None:
    """A real ``ganzoo train`` process, signalled twice as soon as its first checkpoint is on disk."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "ganzoo", *CLI, "--quiet", "--out", str(tmp_path / "r"),
                                 "--steps", "100000"], env=env, stdout=subprocess.DEVNULL, stderr=err_file)
        while not list_checkpoints(tmp_path / "r") and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    err = log.read_text()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "--resume" in err
    blob = read_checkpoint(list_checkpoints(tmp_path / "r")[-1])
    assert blob["step"] < 100000 and not blob.get("partial_step")


# -- --resume -------------------------------------------------------------------------------------------------------
def test_resume_falls_back_past_a_checkpoint_with_wrong_shapes(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run(run_dir, steps=6)
    newest = run_dir / "checkpoints" / "step-00000006.pt"
    blob = read_checkpoint(newest)
    blob["state"] = {**blob["state"], "networks": {k: torch.zeros(3, 3) for k in blob["state"]["networks"]}}
    save_checkpoint({k: v for k, v in blob.items() if k not in ("format", "version")}, newest)
    summary = run(run_dir, steps=6, resume=True)
    assert summary.resumed_from == run_dir / "checkpoints" / "step-00000003.pt"
    run(tmp_path / "whole", steps=6)
    assert_same_state(final_state(tmp_path / "whole"), final_state(run_dir))


def test_resume_falls_back_past_a_checkpoint_of_another_model(tmp_path: Path) -> None:
    run(tmp_path / "r", steps=3)
    run(tmp_path / "other", steps=3, model="vae", overrides=[*TINY[3:]])
    (tmp_path / "other" / "checkpoints" / "step-00000003.pt").rename(
        tmp_path / "r" / "checkpoints" / "step-00000050.pt")
    summary = run(tmp_path / "r", steps=6, resume=True)
    assert summary.resumed_from == tmp_path / "r" / "checkpoints" / "step-00000003.pt" and summary.steps == 6


def test_resume_refuses_contradicting_flags(tmp_path: Path) -> None:
    run(tmp_path / "r", steps=3, amp="bf16")
    with pytest.raises(ConfigError, match="--overwrite"):
        run(tmp_path / "r", steps=6, resume=True, overwrite=True)
    with pytest.raises(ConfigError, match="--amp"):
        run(tmp_path / "r", steps=6, resume=True, amp=False)
    summary = run(tmp_path / "r", steps=6, resume=True)  # not given: the run's own setting
    assert summary.amp == "bfloat16"


def test_resume_says_which_file_it_used(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([*CLI, "--steps", "3", "--quiet", "--out", str(tmp_path / "r")]) == 0
    assert main([*CLI, "--resume", "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert str(tmp_path / "r" / "checkpoints" / "step-00000003.pt") in err.replace("\n", "")
