"""Reliability: training processes killed with SIGKILL at random points resume exactly, and models that misbehave
inside the harness (raise, return a non-dict, a vector loss, wrong-shaped samples, NaN) are reported with the
plugin's distribution named while every other model keeps working."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from ganzoo import registry
from ganzoo.checkpoint import list_checkpoints, read_checkpoint
from ganzoo.cli import main
from ganzoo.testing import assert_same_state, make_distribution

TRAIN = ["train", "gan", "--steps", "1500", "--batch-size", "8", "--seed", "3", "--device", "cpu", "--quiet",
         "--set", "gan.g_widths=[16]", "--set", "gan.d_widths=[16]", "--set", "gan.latent_dim=8",
         "--set", "gan.ema_half_life=7", "--set", "gan.ema_start=100", "--set", "gan.augment=translation,cutout",
         "--set", "gan.regularizers=[r1,lecam]", "--set", "gan.r1_every=4",
         "--set", "train.checkpoint_every=5", "--set", "train.sample_every=0", "--set", "train.log_every=5"]


def ganzoo_process(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "ganzoo", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def newest_step(run_dir: Path) -> int:
    paths = list_checkpoints(run_dir) if (run_dir / "checkpoints").is_dir() else []
    return int(paths[-1].stem.split("-")[1]) if paths else 0


def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    reference = ganzoo_process(*TRAIN, "--out", str(tmp_path / "ref"))
    assert reference.wait(timeout=300) == 0, reference.stderr.read().decode()
    run_dir, rng, kills, resume = tmp_path / "killed", random.Random(7), 0, False
    while True:
        proc = ganzoo_process(*TRAIN, "--out", str(run_dir), *(["--resume"] if resume else []))
        if kills < 3:
            start = newest_step(run_dir)
            while newest_step(run_dir) <= start and proc.poll() is None:  # training has moved past the last kill
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))
            proc.kill()
        code = proc.wait(timeout=300)
        if code == 0:
            break
        assert code == -9, proc.stderr.read().decode()
        kills += 1
        for path in list_checkpoints(run_dir):  # every checkpoint under its real name is whole
            assert read_checkpoint(path)["step"] == int(path.stem.split("-")[1])
        resume = True
    assert kills == 3
    ref, got = (read_checkpoint(list_checkpoints(d)[-1]) for d in (tmp_path / "ref", run_dir))
    assert got["step"] == ref["step"] == 1500
    networks = ref["state"]["networks"]  # the generator's average and the regularisers' state are in it
    assert any(k.startswith("ema.G.") for k in networks) and "regularizers.lecam.real_mean" in networks
    assert_same_state(got["state"], ref["state"])  # networks, their average and optimizers, bit for bit


BAD_MODELS = textwrap.dedent('''
    import torch
    import ganzoo
    from ganzoo_builtin.gan import GAN

    TINY = {**GAN.defaults, "g_widths": [16], "d_widths": [16], "latent_dim": 8, "batch_size": 8}

    class Raiser(GAN):
        name, defaults = "raiser", TINY
        def train_step(self, batch, step):
            return {"loss": 1 / 0}

    class NonDict(GAN):
        name, defaults = "nondict", TINY
        def train_step(self, batch, step):
            return [super().train_step(batch, step)["g_loss"]]

    class VectorLoss(GAN):
        name, defaults = "vectorloss", TINY
        def train_step(self, batch, step):
            return {"g_loss": torch.ones(4)}

    class WrongShape(GAN):
        name, defaults = "wrongshape", TINY
        def sample(self, n, labels=None, *, generator=None):
            return super().sample(n, labels, generator=generator)[..., :-1]

    class NaNLoss(GAN):
        name, defaults = "nanloss", TINY
        def train_step(self, batch, step):
            return {**super().train_step(batch, step), "d_loss": torch.tensor(float("nan"))}

    @ganzoo.hookimpl
    def register_models(register):
        for cls in (Raiser, NonDict, VectorLoss, WrongShape, NaNLoss):
            register(cls)
''')


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory: pytest.TempPathFactory):
    site = tmp_path_factory.mktemp("site")
    make_distribution(site, "ganzoo-badmodels", "0.3", {"badmodels": "ganzoo_badmodels"},
                      {"ganzoo_badmodels.py": BAD_MODELS})
    sys.path.insert(0, str(site))
    registry.reset()
    yield
    sys.path.remove(str(site))
    sys.modules.pop("ganzoo_badmodels", None)
    registry.reset()


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("model,cause", [
    ("raiser", "train_step of model 'raiser' (plugin 'badmodels', distribution 'ganzoo-badmodels 0.3') raised "
               "ZeroDivisionError: division by zero (at "),
    ("nondict", "train_step of model 'nondict' (plugin 'badmodels', distribution 'ganzoo-badmodels 0.3') returned "
                "a list at step 1; it must return a non-empty dict"),
    ("vectorloss", "returned 'g_loss': a float32 tensor of shape (4,) at step 1; every loss must be a scalar"),
    ("wrongshape", "sample(4) of model 'wrongshape' (plugin 'badmodels', distribution 'ganzoo-badmodels 0.3') "
                   "returned a float32 tensor of shape (4, 1, 28, 27); expected a floating tensor of shape "
                   "(4, 1, 28, 28)"),
    ("nanloss", "step 1: loss 'd_loss' of model 'nanloss' (plugin 'badmodels', distribution 'ganzoo-badmodels 0.3') "
                "is nan — training stopped"),
])
def test_a_misbehaving_model_is_reported_with_its_distribution(bad_models, tmp_path: Path, capsys, model: str,
                                                               cause: str) -> None:
    code = main(["train", model, "--steps", "2", "--out", str(tmp_path / model), "--quiet", "--device", "cpu",
                 "--set", "train.sample_grid=4"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and cause in err, err
    if model == "raiser":
        assert "ganzoo_badmodels.py:" in err  # the plugin's own line, not torch's
    if model == "wrongshape":  # the checkpoint of the finished steps is kept
        assert [p.name for p in list_checkpoints(tmp_path / model)] == ["step-00000002.pt"]
    else:  # it failed at its first step: no run folder holding only config.yaml is left behind
        assert not (tmp_path / model).exists(), sorted(p.name for p in (tmp_path / model).iterdir())


def test_other_models_keep_working_beside_a_bad_plugin(bad_models, capsys) -> None:
    assert main(["list", "--json"]) == 0
    import json

    names = {row["name"] for row in json.loads(capsys.readouterr().out)}
    assert {"gan", "cgan", "acgan", "dcgan", "vae", "raiser", "wrongshape"} <= names
