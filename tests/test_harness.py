"""The training harness: the run folder, seeding, exact resume, Ctrl-C, NaN stop, bad checkpoints, output errors,
the CLI (train every registered model, sample without the data set) and the label sweep."""
from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from torch import nn

import ganzoo
from ganzoo.checkpoint import list_checkpoints, load_model, read_checkpoint
from ganzoo.cli import main
from ganzoo.data import ImageData
from ganzoo.errors import CheckpointError, ConfigError, TrainingError
from ganzoo.harness import TrainingInterrupted, TrainOptions, resolve_run_dir, train
from ganzoo.model import Batch, GenerativeModel
from ganzoo.registry import host
from ganzoo.sampling import label_sweep
from ganzoo.testing import assert_same_state
from ganzoo_builtin.gan import GAN

TINY = ["gan.g_widths=[16]", "gan.d_widths=[16]", "gan.latent_dim=8", "train.log_every=1",
        "train.sample_every=0", "train.checkpoint_every=3", "train.sample_grid=4"]
PNG = b"\x89PNG\r\n\x1a\n"


def tiny_data(n: int = 40, shape: tuple[int, int, int] = (1, 8, 8), classes: int = 4) -> ImageData:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, *shape), generator=gen, dtype=torch.uint8)
    return ImageData("tiny", images, torch.arange(n) % classes, classes, [f"c{i}" for i in range(classes)])


class Exploding(GAN):
    """A GAN whose generator loss turns NaN at step 4."""

    name = "exploding"

    def train_step(self, batch: Batch, step: int) -> dict[str, Any]:
        out = super().train_step(batch, step)
        if step + 1 >= 4:
            out["g_loss"] = torch.tensor(float("nan"))
        return out


class Echo(GenerativeModel):
    """A conditional stand-in whose samples show their noise (pixel 0) and their label (pixel 1)."""

    name = "echo"
    conditional = True
    defaults = {"batch_size": 4}

    def __init__(self, hparams=None, image_shape=(1, 8, 8), num_classes=4) -> None:
        super().__init__(hparams, image_shape, num_classes)
        self.w = nn.Linear(1, 1)
        self.optimizers = {"w": torch.optim.SGD(self.w.parameters(), lr=0.1)}

    def train_step(self, batch: Batch, step: int) -> dict[str, Any]:
        loss = self.w(batch.images.mean((1, 2, 3))[:, None]).pow(2).mean()
        self.optimize("w", loss)
        return {"loss": loss.detach()}

    def sample(self, n, labels=None, *, generator=None):
        labels = self.check_labels(n, labels, generator)
        out = torch.zeros(n, *self.image_shape, device=self.device)
        out[:, 0, 0, 0] = torch.tanh(self.noise(n, 1, generator)[:, 0])
        out[:, 0, 0, 1] = labels.float() / self.num_classes
        return out


class Plugin:
    """Tiny data sets and test models, registered in-process."""

    @ganzoo.hookimpl
    def register_datasets(self, register) -> None:
        register("tiny", lambda root, download=False: tiny_data())
        register("tiny16", lambda root, download=False: tiny_data(16, (1, 16, 16), 10))

    @ganzoo.hookimpl
    def register_models(self, register) -> None:
        register(Exploding)
        register(Echo)


# Collected before the test plugin registers: the models that ship with ganzoo and its installed plugins.
INSTALLED = ganzoo.list_models()


@pytest.fixture(autouse=True, scope="module")
def _plugin():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread is fastest and leaves the other core to the rest
    host().register_plugin(Plugin(), name="test-harness")
    try:
        yield
    finally:
        host().unregister_plugin("test-harness")
        torch.set_num_threads(before)


def run(out: Path, steps: int = 6, **kw: Any) -> Any:
    opts = {"model": "gan", "dataset": "tiny", "steps": steps, "batch_size": 8, "seed": 0, "out": str(out),
            "device": "cpu", "quiet": True, "overrides": list(TINY)}
    opts.update(kw)
    quiet, progress = opts.pop("quiet"), opts.pop("progress", None)
    return train(TrainOptions(**opts), quiet=quiet, progress=progress)


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def final_state(run_dir: Path) -> dict[str, Any]:
    blob = read_checkpoint(list_checkpoints(run_dir)[-1])
    return {"step": blob["step"], "state": blob["state"], "rng": blob["rng"], "data": blob["data"]}


# -- the run folder -----------------------------------------------------------------------------------------------
def test_run_folder_holds_config_checkpoints_metrics_and_samples(tmp_path: Path) -> None:
    summary = run(tmp_path / "r", steps=7, overrides=[*TINY, "train.sample_every=3", "train.keep_checkpoints=2"])
    r = tmp_path / "r"
    assert summary.steps == 7 and summary.checkpoint == r / "checkpoints" / "step-00000007.pt"
    assert (summary.model, summary.dataset, summary.batch_size, summary.seed, summary.device) == \
        ("gan", "tiny", 8, 0, "cpu")
    assert summary.images_per_second > 0 and summary.wall_seconds > 0 and summary.resumed_from is None
    assert set(summary.losses) >= {"d_loss", "g_loss"}
    assert [p.name for p in list_checkpoints(r)] == ["step-00000006.pt", "step-00000007.pt"]  # the last K=2
    config = (r / "config.yaml").read_text()
    assert "model: gan" in config and "batch_size: 8" in config and "g_widths:\n  - 16" in config
    lines = metrics(r)
    assert [m["step"] for m in lines] == list(range(1, 8))
    assert set(lines[0]) == {"step", "epoch", "losses", "images_per_second", "wall_seconds"}
    assert lines[-1]["epoch"] == 1  # 40 images in batches of 8: the second epoch starts at step 6
    for step in (3, 6, 7):
        png = r / "samples" / f"step-{step:08d}.png"
        assert png.read_bytes()[:8] == PNG
        assert Image.open(png).size == (2 * (8 + 2) + 2, 2 * (8 + 2) + 2)  # 4 samples: a 2×2 grid with padding


def test_same_seed_gives_the_same_losses(tmp_path: Path) -> None:
    run(tmp_path / "a", steps=4)
    run(tmp_path / "b", steps=4)
    run(tmp_path / "c", steps=4, seed=1)
    losses = {k: [m["losses"] for m in metrics(tmp_path / k)] for k in "abc"}
    assert losses["a"] == losses["b"]
    assert losses["a"] != losses["c"]


def test_resume_reaches_the_weights_of_an_uninterrupted_run(tmp_path: Path) -> None:
    run(tmp_path / "whole", steps=8)
    run(tmp_path / "split", steps=4)
    assert [p.name for p in list_checkpoints(tmp_path / "split")][-1] == "step-00000004.pt"
    summary = run(tmp_path / "split", steps=8, resume=True, seed=None, batch_size=None)
    assert summary.steps == 8
    assert_same_state(final_state(tmp_path / "whole"), final_state(tmp_path / "split"))
    assert metrics(tmp_path / "whole") == [dict(m, wall_seconds=w["wall_seconds"], images_per_second=w[
        "images_per_second"]) for m, w in zip(metrics(tmp_path / "split"), metrics(tmp_path / "whole"))]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_writes_a_checkpoint_and_resume_is_exact(tmp_path: Path, sig: int) -> None:
    def press_ctrl_c(step: int, model: GenerativeModel) -> None:
        if step == 3:
            os.kill(os.getpid(), sig)

    with pytest.raises(TrainingInterrupted) as stopped:
        run(tmp_path / "stopped", steps=7, callback=press_ctrl_c, callback_every=1,
            overrides=[*TINY, "train.checkpoint_every=0"])
    assert stopped.value.step == 3 and stopped.value.signum == sig
    assert stopped.value.checkpoint == tmp_path / "stopped" / "checkpoints" / "step-00000003.pt"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    run(tmp_path / "stopped", steps=7, resume=True)
    run(tmp_path / "whole", steps=7)
    assert_same_state(final_state(tmp_path / "whole"), final_state(tmp_path / "stopped"))


def test_ctrl_c_from_the_cli_exits_130_with_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    real_step = GAN.train_step

    def interrupted(self, batch, step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, batch, step)

    GAN.train_step = interrupted
    try:
        code = main(["train", "gan", "--dataset", "tiny", "--steps", "9", "--batch-size", "8", "--out",
                     str(tmp_path / "r"), "--device", "cpu", *sum((["--set", t] for t in TINY), [])])
    finally:
        GAN.train_step = real_step
    assert code == 130
    assert "--resume" in capsys.readouterr().err
    assert read_checkpoint(list_checkpoints(tmp_path / "r")[-1])["step"] == 3  # the step in flight completed


def test_callback_sees_the_model_and_changes_nothing(tmp_path: Path) -> None:
    seen = []

    def score(step: int, model: GenerativeModel) -> None:
        seen.append(step)
        model.sample(5)  # sampling draws noise; the training's random stream must not notice
        torch.rand(3)

    run(tmp_path / "cb", steps=5, callback=score, callback_every=2)
    run(tmp_path / "plain", steps=5)
    assert seen == [2, 4, 5]
    assert_same_state(final_state(tmp_path / "cb"), final_state(tmp_path / "plain"))


def test_a_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    tiny = ["exploding.g_widths=[16]", "exploding.d_widths=[16]", "train.checkpoint_every=2"]
    with pytest.raises(TrainingError) as err:
        run(tmp_path / "nan", steps=8, model="exploding", overrides=tiny)
    text = str(err.value)
    assert "step 4" in text and "'g_loss'" in text and "nan" in text and "step-00000002.pt" in text
    assert [p.name for p in list_checkpoints(tmp_path / "nan")] == ["step-00000002.pt"]
    model, meta = load_model(tmp_path / "nan")
    assert meta["step"] == 2 and all(torch.isfinite(p).all() for p in model.parameters())


def test_resume_falls_back_to_the_newest_good_checkpoint(tmp_path: Path) -> None:
    run(tmp_path / "r", steps=6)
    newest = list_checkpoints(tmp_path / "r")[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # truncated
    summary = run(tmp_path / "r", steps=6, resume=True)
    assert summary.steps == 6
    run(tmp_path / "whole", steps=6)
    assert_same_state(final_state(tmp_path / "whole"), final_state(tmp_path / "r"))  # redone from step 3


def test_resume_refuses_changed_settings_and_missing_runs(tmp_path: Path) -> None:
    run(tmp_path / "r", steps=3)
    with pytest.raises(ConfigError, match="--seed"):
        run(tmp_path / "r", steps=6, resume=True, seed=5)
    with pytest.raises(ConfigError, match="g_widths"):
        run(tmp_path / "r", steps=6, resume=True, overrides=["gan.g_widths=[32]"])
    with pytest.raises(CheckpointError, match="--resume: .* holds no checkpoints"):
        run(tmp_path / "never", steps=3, resume=True)


def test_cli_refuses_to_overwrite_a_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["train", "gan", "--dataset", "tiny", "--steps", "2", "--batch-size", "8", "--out", str(tmp_path / "r"),
            "--quiet", "--device", "cpu", *sum((["--set", t] for t in TINY), [])]
    assert main(args) == 0
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_disk_full_during_training_keeps_the_previous_checkpoint(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from ganzoo import files

    real_fsync = os.fsync

    def full_disk(fd):  # the disk fills up while the checkpoint of step 6 is written
        if "step-00000006" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(CheckpointError, match="No space left on device.*Free disk space"):
        run(tmp_path / "r", steps=9)
    monkeypatch.setattr(files.os, "fsync", real_fsync)
    assert [p.name for p in list_checkpoints(tmp_path / "r")] == ["step-00000003.pt"]
    assert load_model(tmp_path / "r")[1]["step"] == 3


def test_an_unwritable_output_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot write the run folder .*writable --out"):
        run(tmp_path / "file" / "run", steps=2)


def test_run_names_stay_inside_the_output_folder(tmp_path: Path) -> None:
    assert resolve_run_dir(tmp_path, "exp/dcgan-1", "dcgan") == tmp_path / "exp" / "dcgan-1"
    assert resolve_run_dir(None, None, "dcgan") == Path("runs") / "dcgan"
    for bad in ("../escape", "a/../../escape", "/etc", "", "."):
        with pytest.raises(ConfigError, match="leaves the output folder"):
            resolve_run_dir(tmp_path, bad, "gan")
    summary = run(tmp_path / "runs", steps=1, name="mine")
    assert summary.run_dir == tmp_path / "runs" / "mine"


def test_options_are_checked_before_training(tmp_path: Path) -> None:
    for bad in ({"steps": 0}, {"batch_size": -1}, {"seed": -3}, {"amp": "fp8"}, {"max_seconds": 0}):
        with pytest.raises(ConfigError):
            run(tmp_path / "x", **bad)
    with pytest.raises(ConfigError, match="fp16 needs CUDA"):
        run(tmp_path / "x", amp="fp16")
    assert not (tmp_path / "x" / "checkpoints").exists()


def test_bf16_autocast_on_cpu(tmp_path: Path) -> None:
    summary = run(tmp_path / "amp", steps=2, amp=True)
    assert summary.amp == "bfloat16"
    assert all(math.isfinite(v) for v in summary.losses.values())


def test_streamed_data_trains_like_data_on_the_device(tmp_path: Path) -> None:
    run(tmp_path / "device", steps=6, overrides=[*TINY, "train.data_placement=device"])
    run(tmp_path / "stream", steps=6, overrides=[*TINY, "train.data_placement=stream"])
    assert_same_state(final_state(tmp_path / "device"), final_state(tmp_path / "stream"))


def test_time_budget_and_in_memory_data(tmp_path: Path) -> None:
    summary = run(tmp_path / "t", steps=None, max_seconds=1e-9, dataset=None, data=tiny_data(16))
    assert summary.steps == 1  # the budget is spent after the first step
    assert load_model(tmp_path / "t")[1]["dataset"] == "tiny"


def test_progress_bar_of_the_caller(tmp_path: Path) -> None:
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(file=open(os.devnull, "w")))
    with progress:
        run(tmp_path / "p", steps=3, progress=progress)
    (task,) = progress.tasks
    assert task.description == "gan" and task.completed == 3 and task.total == 3


# -- the CLI: every registered model, sampling without the data --------------------------------------------------
@pytest.mark.parametrize("name", INSTALLED)
def test_every_registered_model_trains_and_samples_from_the_cli(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    translates = ganzoo.model_class(name).translates  # two classes of the data: its domains
    assert main(["train", name, "--dataset", "tiny16", "--steps", "2", "--batch-size", "4" if translates else "8",
                 "--out", str(out), "--quiet", "--device", "cpu", "--set", "train.sample_grid=10",
                 *(["--data-option", "classes=[0,1]"] if translates else [])]) == 0
    meta = load_model(out)[1]
    assert meta["step"] == 2 and meta["image_shape"] == (1, 16, 16)
    conditional = ganzoo.model_class(name).conditional
    grid = out / "samples" / "step-00000002.png"
    # the label sweep: one row per class; translation: six rows of 10 // 6; else ceil(sqrt(10)) columns
    cols, rows = (1, 10) if conditional else (1, 6) if translates else (4, 3)
    assert Image.open(grid).size == (cols * 18 + 2, rows * 18 + 2)
    assert main(["sample", str(out), "--n", "6", "--out", str(tmp_path / "s.png"), "--device", "cpu"]) == 0
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG


def test_sample_works_without_the_data_set(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run(tmp_path / "echo", steps=2, model="echo", overrides=[])
    host().unregister_plugin("test-harness")
    host().register_plugin(type("ModelsOnly", (), {"register_models": Plugin.register_models})(),
                           name="test-harness")
    assert "tiny" not in ganzoo.data.list_datasets()
    grid = tmp_path / "grid.png"
    assert main(["sample", str(tmp_path / "echo"), "--n", "8", "--out", str(grid), "--device", "cpu"]) == 0
    assert Image.open(grid).size == (2 * 10 + 2, 4 * 10 + 2)  # 4 classes × (8 // 4) columns
    assert "label sweep" in capsys.readouterr().out
    raw = tmp_path / "x.npz"
    assert main(["sample", str(tmp_path / "echo" / "checkpoints" / "step-00000002.pt"), "--n", "5", "--label", "3",
                 "--out", str(raw)]) == 0
    import numpy as np

    arrays = np.load(raw)
    assert arrays["images"].shape == (5, 8, 8, 1) and arrays["images"].dtype == np.uint8
    assert arrays["labels"].tolist() == [3] * 5
    assert main(["sample", str(tmp_path / "echo"), "--label", "9", "--out", str(raw)]) == 2
    host().unregister_plugin("test-harness")
    host().register_plugin(Plugin(), name="test-harness")


def test_label_sweep_keeps_the_noise_of_each_column() -> None:
    model = Echo(image_shape=(1, 8, 8), num_classes=4)
    images, labels = label_sweep(model, columns=5, seed=7)
    grid = images.view(4, 5, 1, 8, 8)
    noise, label = grid[:, :, 0, 0, 0], grid[:, :, 0, 0, 1]
    assert torch.equal(noise, noise[:1].expand(4, 5))  # every row: the same noise per column
    assert len(set(noise[0].tolist())) == 5  # different noise across columns
    assert torch.equal(label, torch.arange(4)[:, None].float().expand(4, 5) / 4)
    assert labels.tolist() == [k for k in range(4) for _ in range(5)]
    again, _ = label_sweep(model, columns=5, seed=7)
    assert torch.equal(images, again)


def test_datasets_command_lists_the_builtins(capsys: pytest.CaptureFixture) -> None:
    assert main(["datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"mnist-embedded", "mnist-ab", "mnist", "fashion-mnist", "cifar10", "celeba", "imagefolder"} <= set(rows)
    assert "attribute" in rows["celeba"]["options"]
    assert main(["datasets"]) == 0
    assert "cifar10" in capsys.readouterr().out


def test_compile_keeps_the_weights_names_and_times_the_first_step_apart(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """--compile compiles every network in place (checkpoints keep their keys; resume works), and the compiling
    first step is reported apart. The eager backend stands in for inductor, whose C++ build takes minutes here."""
    compiled: list[str] = []
    original = torch.nn.Module.compile

    def compile_eager(self: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        compiled.append(type(self).__name__)
        original(self, backend="eager")

    monkeypatch.setattr(torch.nn.Module, "compile", compile_eager)
    summary = run(tmp_path / "run", steps=3, compile=True)
    assert len(compiled) == 2 and summary.compile_seconds > 0
    plain = run(tmp_path / "plain", steps=3)
    assert plain.compile_seconds == 0
    a, b = (torch.load(s.checkpoint, weights_only=True)["state"]["networks"] for s in (summary, plain))
    assert a.keys() == b.keys()
    resumed = run(tmp_path / "run", steps=6, compile=True, resume=True)
    assert resumed.steps == 6


# -- bad input is blamed on the value the user gave, before a run folder is made ---------------------------------
def cli_error(capsys: pytest.CaptureFixture, *argv: str) -> str:
    """Run the CLI, expect exit code 2 and one line of error without a traceback; return that line."""
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err and "bug in that plugin" not in err, err
    return " ".join(err.split())


@pytest.mark.parametrize("argv,given,need", [
    (["--batch-size", "1"], "--batch-size 1", "2 or more"),
    (["--set", "dcgan.batch_size=1"], "dcgan.batch_size 1", "2 or more"),
])
def test_batch_size_1_with_batchnorm_is_a_config_error_before_training(tmp_path: Path, capsys, argv: list[str],
                                                                       given: str, need: str) -> None:
    out = tmp_path / "bn"
    err = cli_error(capsys, "train", "dcgan", "--dataset", "tiny", "--steps", "2", "--out", str(out), "--quiet",
                    "--device", "cpu", "--set", "train.sample_every=0", *argv)
    assert err.startswith(f"error: {given}:") and "BatchNorm" in err and "at least 2 images" in err, err
    assert need in err and "G." in err  # the layer that needs it
    assert not out.exists()  # nothing was started: no run folder is left behind


def test_batchnorm_counts_the_images_of_each_process() -> None:
    from ganzoo.guard import check_batch_norm

    model = ganzoo.create_model("dcgan", image_shape=(1, 8, 8), num_classes=4)
    check_batch_norm(model, 2, world_size=1, given="--batch-size")
    with pytest.raises(ConfigError, match=r"--batch-size 2 over 2 processes \(1 image each\).*--batch-size 4 or more"):
        check_batch_norm(model, 2, world_size=2, given="--batch-size")
    check_batch_norm(Echo(), 1, world_size=1, given="--batch-size")  # no BatchNorm: one image is fine


def test_a_model_without_batchnorm_trains_on_one_image_per_batch(tmp_path: Path) -> None:
    assert run(tmp_path / "echo1", steps=1, model="echo", batch_size=1, overrides=[]).steps == 1


@pytest.mark.parametrize("device,why", [
    ("meta", "meta is not supported by ganzoo"), ("mps", "mps is not supported by ganzoo yet"),
    ("xpu", "xpu is not supported by ganzoo yet"), ("gpu", "use auto, cpu, cuda or cuda:N"),
    ("cuda:x", "use auto, cpu, cuda or cuda:N"), ("cpu:0", "use auto, cpu, cuda or cuda:N"),
])
def test_an_unsupported_device_is_a_config_error_and_leaves_no_run_folder(tmp_path: Path, capsys, device: str,
                                                                          why: str) -> None:
    out = tmp_path / "dev"
    err = cli_error(capsys, "train", "gan", "--dataset", "tiny", "--steps", "1", "--out", str(out), "--quiet",
                    "--device", device, "--set", "train.sample_every=0")
    assert f"--device {device!r}" in err and why in err and "auto, cpu, cuda or cuda:N" in err, err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has CUDA")
def test_cuda_without_cuda_keeps_its_message(tmp_path: Path, capsys) -> None:
    err = cli_error(capsys, "train", "gan", "--dataset", "tiny", "--steps", "1", "--out", str(tmp_path / "c"),
                    "--quiet", "--device", "cuda:0")
    assert "--device cuda:0: CUDA is not available on this machine" in err
    assert not (tmp_path / "c").exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny finished run (2 steps of the echo model) for the commands that read one."""
    out = tmp_path_factory.mktemp("trained") / "echo"
    run(out, steps=2, model="echo", overrides=[])
    return out


@pytest.mark.parametrize("command", ["sample", "eval"])
@pytest.mark.parametrize("device", ["meta", "mps", "xpu"])
def test_sample_and_eval_refuse_an_unsupported_device(trained: Path, tmp_path: Path, capsys, command: str,
                                                      device: str) -> None:
    extra = ["--out", str(tmp_path / "s.png")] if command == "sample" else ["--n", "16"]
    err = cli_error(capsys, command, str(trained), "--device", device, *extra)
    assert f"--device {device!r}" in err and "not supported by ganzoo" in err, err
    assert not (tmp_path / "s.png").exists()


def test_bench_refuses_an_unsupported_device_before_writing(tmp_path: Path, capsys) -> None:
    err = cli_error(capsys, "bench", "gan", "--steps", "1", "--out", str(tmp_path / "b"), "--quiet",
                    "--device", "mps")
    assert "--device 'mps'" in err and "not supported by ganzoo yet" in err
    assert not (tmp_path / "b").exists()


def test_a_run_that_fails_at_its_first_step_leaves_no_folder(tmp_path: Path, monkeypatch) -> None:
    def boom(self, batch, step):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Echo, "train_step", boom)
    with pytest.raises(ganzoo.PluginError, match="train_step of model 'echo'"):
        run(tmp_path / "new", steps=2, model="echo", overrides=[])
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"  # a folder that was there before: what was in it stays, what the run made goes
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(ganzoo.PluginError):
        run(kept, steps=2, model="echo", overrides=[])
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
    (kept / "config.yaml").write_text("mine too\n")
    with pytest.raises(ganzoo.PluginError):
        run(kept, steps=2, model="echo", overrides=[])
    assert sorted(p.name for p in kept.iterdir()) == ["config.yaml", "notes.txt"]
