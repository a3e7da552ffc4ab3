"""Checkpoints: atomic writes (a write killed halfway leaves the previous file loadable), safe loading, clear errors
for truncated, foreign and pickled files, keeping the last K, and load_model."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import ganzoo
from ganzoo import files
from ganzoo.checkpoint import (checkpoint_path, list_checkpoints, load_model, newest_checkpoint, read_checkpoint,
                               save_checkpoint)
from ganzoo.errors import CheckpointError
from ganzoo.rundir import RunDir


def tiny_gan() -> ganzoo.GenerativeModel:
    return ganzoo.create_model("gan", image_shape=(1, 4, 4), num_classes=2, g_widths=[8], d_widths=[8], latent_dim=4)


def payload(model: ganzoo.GenerativeModel, step: int) -> dict:
    config = {"model": "gan", "hparams": dict(vars(model.hp)), "image_shape": [1, 4, 4], "num_classes": 2,
              "dataset": "tiny", "class_names": ["a", "b"]}
    return {"step": step, "config": config, "state": model.training_state()}


def write_run(run_dir: Path, steps=(1, 2, 3)) -> tuple[ganzoo.GenerativeModel, list[Path]]:
    model = tiny_gan()
    paths = []
    for s in steps:
        with torch.no_grad():
            next(model.G.parameters()).add_(1.0)  # each step's weights differ
        paths.append(save_checkpoint(payload(model, s), checkpoint_path(run_dir, s)))
    return model, paths


def test_round_trip_holds_weights_and_optimizer_state(tmp_path: Path) -> None:
    model = tiny_gan()
    path = save_checkpoint({**payload(model, 7), "extra": {"x": torch.arange(3)}}, tmp_path / "a.pt")
    blob = read_checkpoint(path)
    assert blob["step"] == 7 and blob["format"] == "ganzoo-checkpoint"
    for k, v in model.training_state()["networks"].items():
        assert torch.equal(blob["state"]["networks"][k], v)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_newest_checkpoint_and_keep_last_k(tmp_path: Path) -> None:
    _, paths = write_run(tmp_path, steps=(1, 2, 3, 10))
    assert list_checkpoints(tmp_path) == paths  # numeric order, not file-name order
    assert newest_checkpoint(tmp_path)[0] == paths[-1]
    assert sorted(RunDir(tmp_path).prune(keep=2)) == paths[:2]
    assert list_checkpoints(tmp_path) == paths[2:]


def test_truncated_checkpoint_names_the_file_and_falls_back(tmp_path: Path) -> None:
    _, paths = write_run(tmp_path)
    data = paths[-1].read_bytes()
    paths[-1].write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(paths[-1])
    assert str(paths[-1]) in str(err.value) and "truncated" in str(err.value)
    with pytest.warns(UserWarning, match="bad checkpoint"):
        path, blob = newest_checkpoint(tmp_path)
    assert path == paths[-2] and blob["step"] == 2


def test_foreign_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a ganzoo checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="notes.pt"):
        read_checkpoint(tmp_path / "notes.pt")


class Payload:
    """Stands for an object whose unpickling would run code."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_objects_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "ganzoo-checkpoint", "version": 1, "step": 1, "config": {}, "state": Payload()}, path)
    with pytest.raises(CheckpointError, match="pickled Python objects") as err:
        read_checkpoint(path)
    assert str(path) in str(err.value)
    assert "this must never run" not in capsys.readouterr().out


def test_no_good_checkpoint_names_every_problem_one_line_each(tmp_path: Path) -> None:
    _, paths = write_run(tmp_path, steps=(1, 2))
    for p in paths:
        p.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CheckpointError, match="no checkpoint .* is usable") as err, \
            pytest.warns(UserWarning) as warned:
        newest_checkpoint(tmp_path)
    assert all(any(str(p) in str(w.message) for w in warned) for p in paths)  # each file: its own warning line
    assert "\n" not in str(err.value) and str(paths[-1]) in str(err.value) and "1 more" in str(err.value)
    with pytest.raises(CheckpointError, match="holds no checkpoints"):
        newest_checkpoint(tmp_path / "empty")


def test_write_killed_halfway_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    """A real SIGKILL in the middle of writing the file: the earlier checkpoint stays the newest, and it loads."""
    _, paths = write_run(tmp_path, steps=(1,))
    script = textwrap.dedent(f"""
        import os, signal
        from ganzoo import checkpoint, files
        def die_before_fsync(fd):
            os.kill(os.getpid(), signal.SIGKILL)
        files.os.fsync = die_before_fsync
        checkpoint.save_checkpoint({{"step": 2, "config": {{}}, "state": {{}}}},
                                   checkpoint.checkpoint_path({str(tmp_path)!r}, 2))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    assert list_checkpoints(tmp_path) == paths  # the half-written file never took the real name
    path, blob = newest_checkpoint(tmp_path)
    assert path == paths[0] and blob["step"] == 1
    leftovers = list((tmp_path / "checkpoints").glob(".*tmp*"))
    assert leftovers and RunDir(tmp_path).prune(keep=3) == leftovers  # the next prune sweeps them away


@pytest.mark.parametrize("code,fix", [(errno.ENOSPC, "Free disk space"), (errno.EROFS, "writable --out")])
def test_full_or_read_only_disk_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int,
                                                  fix: str) -> None:
    _, paths = write_run(tmp_path, steps=(1,))

    def failing_fsync(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    target = checkpoint_path(tmp_path, 2)
    with pytest.raises(CheckpointError) as err:
        save_checkpoint({"step": 2, "config": {}, "state": {}}, target)
    assert str(target) in str(err.value) and fix in str(err.value)
    assert not target.exists() and not list(target.parent.glob(".*tmp*"))
    assert read_checkpoint(paths[0])["step"] == 1


def test_load_model_from_a_run_folder_or_a_file(tmp_path: Path) -> None:
    model, paths = write_run(tmp_path, steps=(1, 2))
    torch.manual_seed(123)
    before = torch.get_rng_state()
    loaded, meta = load_model(tmp_path)
    assert torch.equal(torch.get_rng_state(), before)  # building the model did not move the caller's RNG
    assert not loaded.training
    assert meta["step"] == 2 and meta["model"] == "gan" and meta["image_shape"] == (1, 4, 4)
    assert meta["num_classes"] == 2 and meta["dataset"] == "tiny" and meta["path"] == str(paths[-1])
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    older, meta = load_model(paths[0])
    assert meta["step"] == 1
    assert not torch.equal(next(older.G.parameters()), next(loaded.G.parameters()))


def test_load_model_of_an_unknown_model_says_which_plugin_is_missing(tmp_path: Path) -> None:
    model = tiny_gan()
    blob = payload(model, 1)
    blob["config"]["model"] = "lsgan"
    path = save_checkpoint(blob, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="'lsgan' is not registered"):
        load_model(path)
