"""Checkpoints are data, checked like zoo.yaml: a crafted or damaged file, non-finite weights and out-of-range seeds are
one-line errors naming the file (exit 2), never a traceback or a huge allocation; ``--resume`` skips such files and
continues from an older good one. Also the Python API's inputs: ``create_model`` and ``model.sample``."""
from __future__ import annotations

import copy
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

import ganzoo
from ganzoo.checkpoint import checkpoint_path, list_checkpoints, load_model, read_checkpoint, save_checkpoint
from ganzoo.cli import main
from ganzoo.data import ImageData
from ganzoo.errors import CheckpointError, ConfigError, PluginError
from ganzoo.model import MAX_CHANNELS, MAX_CLASSES, MAX_SIDE, Batch
from ganzoo.registry import host
from ganzoo.rng import check_seed
from ganzoo_builtin.gan import GAN

TINY = ["gan.g_widths=[8]", "gan.d_widths=[8]", "gan.latent_dim=4", "gan.ema_half_life=0", "train.log_every=1",
        "train.sample_every=0", "train.checkpoint_every=1", "train.keep_checkpoints=5"]


def tiny_data() -> ImageData:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 1, 8, 8), generator=gen, dtype=torch.uint8)
    return ImageData("ckpt-tiny", images, torch.arange(16) % 2, 2, ["a", "b"])


class Rotting(GAN):
    """A GAN whose generator weights turn NaN in its third step while the losses it reports stay finite."""

    name = "rotting"

    def train_step(self, batch: Batch, step: int) -> dict[str, Any]:
        out = super().train_step(batch, step)
        if step == 2:
            with torch.no_grad():
                next(self.G.parameters()).fill_(float("nan"))
        return out


class BrokenInit(GAN):
    """A model whose constructor has a bug."""

    name = "brokeninit"

    def __init__(self, hparams=None, image_shape=(1, 28, 28), num_classes=10) -> None:
        super().__init__(hparams, image_shape, num_classes)
        raise ZeroDivisionError("a bug in __init__")


class Plugin:
    @ganzoo.hookimpl
    def register_datasets(self, register) -> None:
        register("ckpt-tiny", lambda root, download=False: tiny_data())

    @ganzoo.hookimpl
    def register_models(self, register) -> None:
        register(Rotting)
        register(BrokenInit)


@pytest.fixture(autouse=True, scope="module")
def _plugin(one_torch_thread):
    host().register_plugin(Plugin(), name="ckpt-input", dist="ganzoo-ckpt-input", version="0.2")
    try:
        yield
    finally:
        host().unregister_plugin("ckpt-input")


def train_args(out: Path, steps: int = 2, model: str = "gan") -> list[str]:
    sets = [s.replace("gan.", f"{model}.", 1) if s.startswith("gan.") else s for s in TINY]
    return ["train", model, "--dataset", "ckpt-tiny", "--steps", str(steps), "--batch-size", "4", "--out", str(out),
            "--device", "cpu", *sum((["--set", s] for s in sets), [])]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GAN run of 2 steps with the checkpoints of steps 1 and 2."""
    out = tmp_path_factory.mktemp("ckpt-input") / "run"
    assert main([*train_args(out), "--quiet"]) == 0
    assert [p.name for p in list_checkpoints(out)] == ["step-00000001.pt", "step-00000002.pt"]
    return out


@pytest.fixture()
def run_copy(trained: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "run"))


def cli_error(capsys: pytest.CaptureFixture, args: list[str], *named: Path | str) -> str:
    """Run the CLI; it must exit 2 with one line that names each of ``named`` and no traceback."""
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for thing in named:
        assert str(thing) in err, err
    return err


def rewrite(path: Path, change: Callable[[dict], Any]) -> Path:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    change(blob)
    torch.save(blob, path)
    return path


def put(key: str, value: Any) -> Callable[[dict], None]:
    """A change to a checkpoint: set ``key`` (dotted, under the top level) to ``value``."""
    def change(blob: dict) -> None:
        *parents, last = key.split(".")
        node = blob
        for part in parents:
            node = node[part]
        node[last] = copy.deepcopy(value)
    return change


def poison(blob: dict) -> None:
    weights = blob["state"]["networks"]
    name = next(k for k in weights if k.startswith("G.") and weights[k].is_floating_point())
    weights[name].view(-1)[0] = float("nan")


CRAFTED = [
    ("config", "hello", "config"),
    ("step", "abc", "step"),
    ("step", -3, "step"),
    ("config.model", 42, "model"),
    ("config.hparams", "fast", "hparams"),
    ("config.hparams.latent_dim", -5, "latent_dim"),
    ("config.hparams.lr_g", "fast", "lr_g"),
    ("config.hparams.no_such_thing", 1, "no_such_thing"),
    ("config.image_shape", [1, 100000, 100000], "image_shape"),
    ("config.image_shape", [1, 28], "image_shape"),
    ("config.image_shape", [0, 28, 28], "image_shape"),
    ("config.image_shape", "1x28x28", "image_shape"),
    ("config.num_classes", 0, "num_classes"),
    ("config.num_classes", 10**9, "num_classes"),
    ("config.num_classes", "ten", "num_classes"),
    ("config.seed", 2**64, "seed"),
    ("config.seed", -1, "seed"),
    ("config.batch_size", 0, "batch_size"),
]


@pytest.mark.parametrize("key,value,word", CRAFTED)
def test_a_crafted_config_is_a_one_line_error_naming_the_file(trained: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch, key: str, value: Any,
                                                            word: str) -> None:
    path = Path(shutil.copy(checkpoint_path(trained, 2), tmp_path / "crafted.pt"))
    rewrite(path, put(key, value))

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was built from a checkpoint that had not been checked")

    monkeypatch.setattr(GAN, "__init__", never)  # the 1×100000×100000 shape would ask for terabytes
    err = cli_error(capsys, ["sample", str(path), "--out", str(tmp_path / "s.png")], path, word)
    assert not (tmp_path / "s.png").exists(), err
    with pytest.raises(CheckpointError, match=word):
        read_checkpoint(path)


@pytest.mark.parametrize("key,value,word", [CRAFTED[0], CRAFTED[1], CRAFTED[5], CRAFTED[8]])
def test_resume_skips_a_crafted_checkpoint_naming_it(run_copy: Path, capsys: pytest.CaptureFixture, key: str,
                                                     value: Any, word: str) -> None:
    newest = rewrite(checkpoint_path(run_copy, 2), put(key, value))
    capsys.readouterr()
    assert main([*train_args(run_copy, steps=3), "--resume"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"skipped: checkpoint {newest}" in err and word in err and "Traceback" not in err, err
    assert f"at step 1 from {checkpoint_path(run_copy, 1)}" in err, err
    assert read_checkpoint(checkpoint_path(run_copy, 3))["step"] == 3


def test_nan_weights_are_refused_by_sample_naming_the_tensor_and_the_good_checkpoint(
        run_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad, good = checkpoint_path(run_copy, 2), checkpoint_path(run_copy, 1)
    rewrite(bad, poison)
    out = tmp_path / "s.png"
    for target in (run_copy, bad):
        err = cli_error(capsys, ["sample", str(target), "--out", str(out)], bad, good, "G.")
        assert "NaN" in err or "non-finite" in err, err
        assert not out.exists()
    with pytest.raises(CheckpointError, match="non-finite"):
        load_model(run_copy)
    assert load_model(good)[1]["step"] == 1
    rewrite(good, poison)  # no earlier checkpoint is finite: the message says so
    err = cli_error(capsys, ["sample", str(good), "--out", str(out)], good)
    assert "no earlier checkpoint" in err, err


def test_resume_skips_nan_weights_and_continues_from_the_older_good_checkpoint(
        run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    bad = rewrite(checkpoint_path(run_copy, 2), poison)
    capsys.readouterr()
    assert main([*train_args(run_copy, steps=3), "--resume"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"skipped: checkpoint {bad}" in err and "non-finite" in err, err
    assert f"at step 1 from {checkpoint_path(run_copy, 1)}" in err, err
    model, meta = load_model(run_copy)
    assert meta["step"] == 3 and all(torch.isfinite(p).all() for p in model.parameters())


def test_weights_that_turn_nan_are_never_checkpointed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The losses stay finite while the weights rot: the checkpoint is refused and the newest good one named."""
    out = tmp_path / "rot"
    err = cli_error(capsys, [*train_args(out, steps=6, model="rotting"), "--quiet"], checkpoint_path(out, 2))
    assert "non-finite" in err and "G." in err, err
    assert [p.name for p in list_checkpoints(out)] == ["step-00000001.pt", "step-00000002.pt"]
    assert load_model(out)[1]["step"] == 2


def test_save_checkpoint_refuses_non_finite_weights(tmp_path: Path) -> None:
    model = ganzoo.create_model("gan", image_shape=(1, 4, 4), num_classes=2, g_widths=[8], d_widths=[8],
                                latent_dim=4)
    payload = {"step": 1, "config": {}, "state": model.training_state()}
    first = save_checkpoint(payload, checkpoint_path(tmp_path, 1))
    with torch.no_grad():
        next(model.D.parameters()).view(-1)[0] = float("inf")
    target = checkpoint_path(tmp_path, 2)
    with pytest.raises(CheckpointError) as err:
        save_checkpoint({**payload, "step": 2, "state": model.training_state()}, target)
    assert str(target) in str(err.value) and str(first) in str(err.value) and "D." in str(err.value)
    assert not target.exists() and list_checkpoints(tmp_path) == [first]


@pytest.mark.parametrize("content", ["random", "zip", "text"])
def test_a_file_that_is_not_a_checkpoint_is_called_damaged(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                           content: str) -> None:
    path = tmp_path / "thing.pt"
    if content == "random":
        path.write_bytes(os.urandom(4096))
    elif content == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("notes.txt", "not torch's")
    else:
        path.write_text("hello")
    err = cli_error(capsys, ["sample", str(path), "--out", str(tmp_path / "s.png")], path)
    assert "pickled" not in err and ("damaged" in err or "not a ganzoo checkpoint" in err), err


@pytest.mark.parametrize("seed", [2**64, 2**63, -1])
def test_sample_seed_out_of_range_is_a_one_line_error(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                      seed: int) -> None:
    cli_error(capsys, ["sample", str(trained), "--seed", str(seed), "--out", str(tmp_path / "s.png")],
              f"--seed {seed}", "2**63-1")


def test_train_seed_from_the_zoo_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cli_error(capsys, [*train_args(tmp_path / "r"), "--set", "train.seed=-1"], "train.seed")
    cli_error(capsys, [*train_args(tmp_path / "r"), "--seed", str(2**64)], "--seed")
    assert not (tmp_path / "r").exists()


def test_check_seed() -> None:
    assert check_seed("--seed", 0) == 0 and check_seed("--seed", 2**63 - 1) == 2**63 - 1
    for bad in (-1, 2**63, 2**64, 1.5, True, "3", None):
        with pytest.raises(ConfigError, match="--seed"):
            check_seed("--seed", bad)


# -- the Python API ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(0, 28, 28), (-1, 28, 28), (1, 28), (1, 28, 28, 1), (MAX_CHANNELS + 1, 8, 8),
                                   (1, MAX_SIDE + 1, 8), (1, 8, 0), ("1", 28, 28), (1.0, 28, 28), (True, 8, 8), 28,
                                   None])
def test_create_model_checks_the_image_shape(shape: Any) -> None:
    with pytest.raises(ConfigError, match="image_shape"):
        ganzoo.create_model("gan", image_shape=shape, g_widths=[8], d_widths=[8])


@pytest.mark.parametrize("classes", [0, -1, MAX_CLASSES + 1, 2.5, "10", True])
def test_create_model_checks_the_class_count(classes: Any) -> None:
    with pytest.raises(ConfigError, match="num_classes"):
        ganzoo.create_model("cgan", image_shape=(1, 8, 8), num_classes=classes, g_widths=[8], d_widths=[8])


def test_create_model_without_a_class_count_gives_translation_models_their_two_domains() -> None:
    assert ganzoo.create_model("cgan", image_shape=(1, 8, 8), g_widths=[8], d_widths=[8]).num_classes == 10
    assert ganzoo.create_model("cyclegan", g_channels=4, d_channels=4).num_classes == 2


def test_create_model_accepts_the_bounds_and_lists() -> None:
    model = ganzoo.create_model("gan", image_shape=[MAX_CHANNELS, 8, 8], num_classes=MAX_CLASSES, g_widths=[8],
                                d_widths=[8], latent_dim=4)
    assert model.image_shape == (MAX_CHANNELS, 8, 8) and model.sample(2).shape == (2, MAX_CHANNELS, 8, 8)


def test_a_constructor_that_raises_is_a_plugin_error() -> None:
    with pytest.raises(PluginError) as err:
        ganzoo.create_model("brokeninit")
    text = str(err.value)
    assert "brokeninit (plugin 'ckpt-input', distribution 'ganzoo-ckpt-input 0.2') cannot be built" in text, text
    assert "ZeroDivisionError: a bug in __init__ (at " in text and "test_checkpoint_input.py:" in text, text


def test_sample_checks_n() -> None:
    model = ganzoo.create_model("gan", image_shape=(1, 8, 8), g_widths=[8], d_widths=[8], latent_dim=4)
    for bad in (-1, 2.5, True, "3", None):
        with pytest.raises(ConfigError, match="sample"):
            model.sample(bad)
    empty = model.sample(0)
    assert empty.shape == (0, 1, 8, 8) and empty.is_floating_point()
    assert model.sample(3).shape == (3, 1, 8, 8)


def test_sample_checks_the_labels_of_a_conditional_model() -> None:
    model = ganzoo.create_model("cgan", image_shape=(1, 8, 8), num_classes=3, g_widths=[8], d_widths=[8],
                                latent_dim=4)
    assert model.sample(0, labels=2).shape == (0, 1, 8, 8)
    assert model.sample(2, labels=torch.tensor([0, 2])).shape == (2, 1, 8, 8)
    for labels, word in (([0, 1, 2], "3 labels for 2"), (3, r"\[0, 2\]"), (-1, r"\[0, 2\]"),
                         (torch.tensor([0.5, 1.0]), "integer"), ("a", "integer")):
        with pytest.raises(ConfigError, match=word):
            model.sample(2, labels=labels)
    with pytest.raises(ConfigError, match="2 labels for 0"):
        model.sample(0, labels=[0, 1])


def test_a_plugins_own_sample_is_checked_without_it_doing_anything() -> None:
    class Plain(GAN):
        name = "plain-sample"

        def sample(self, n, labels=None, *, generator=None):
            return torch.zeros(n, *self.image_shape)

    model = Plain({"g_widths": [8], "d_widths": [8]}, image_shape=(1, 4, 4), num_classes=2)
    with pytest.raises(ConfigError, match="sample"):
        model.sample(-2)
    assert model.sample(1).shape == (1, 1, 4, 4)


def test_a_sample_from_a_mixin_is_checked_too() -> None:
    class Mixin:
        def sample(self, n, labels=None, *, generator=None):
            return torch.zeros(n, *self.image_shape)

    class Mixed(Mixin, GAN):
        name = "mixed-sample"

    model = Mixed({"g_widths": [8], "d_widths": [8]}, image_shape=(1, 4, 4), num_classes=2)
    with pytest.raises(ConfigError, match="sample"):
        model.sample(-2)
    assert model.sample(2).shape == (2, 1, 4, 4)
