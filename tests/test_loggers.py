"""Experiment loggers (register_loggers): TensorBoard's event files read back with its own reader, the calls a
third party's logger receives, a logger that breaks, unknown names and the missing extra, the FID curve of bench."""
from __future__ import annotations

import io
import json
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # the dev extra installs it
from tensorboard.plugins.hparams import plugin_data_pb2

import ganzoo
from ganzoo.cli import main
from ganzoo.data import ImageData
from ganzoo.errors import ConfigError
from ganzoo.harness import TrainOptions, train
from ganzoo.loggers import Logger, list_loggers
from ganzoo.registry import host
from ganzoo.sampling import grid_size

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
TINY = ["gan.g_widths=[16]", "gan.d_widths=[16]", "gan.latent_dim=8", "train.log_every=1", "train.sample_every=2",
        "train.checkpoint_every=2", "train.sample_grid=4"]
CLI_TINY = [a for item in TINY for a in ("--set", item)]


def tiny_data() -> ImageData:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 1, 8, 8), generator=gen, dtype=torch.uint8)
    return ImageData("tiny", images, torch.arange(40) % 4, 4, [f"c{i}" for i in range(4)])


def run(out: Path, steps: int = 3, **kw: Any) -> Any:
    opts = {"model": "gan", "data": tiny_data(), "steps": steps, "batch_size": 8, "seed": 0, "out": str(out),
            "device": "cpu", "overrides": list(TINY), **kw}
    return train(TrainOptions(**opts), quiet=True)


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def pixels(png: bytes | Path) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png) if isinstance(png, bytes) else png).convert("RGB"))


class Recorder(Logger):
    """A third party's logger that writes down every call."""

    name = "recorder"
    calls: ClassVar[list[tuple]] = []

    def start(self, run_dir, config, step):
        self.calls.append(("start", run_dir, config, step))

    def log_scalars(self, step, values):
        self.calls.append(("scalars", step, dict(values)))

    def log_images(self, step, tag, image):
        self.calls.append(("images", step, tag, image))

    def log_hparams(self, hparams, metrics):
        self.calls.append(("hparams", dict(hparams), dict(metrics)))

    def close(self):
        self.calls.append(("close",))


class Broken(Logger):
    """A logger whose tracker is down: the first value it is handed raises."""

    name = "broken"
    closed: ClassVar[int] = 0

    def log_scalars(self, step, values):
        raise RuntimeError("tracker offline")

    def close(self):
        Broken.closed += 1


class Unbuildable(Logger):
    """A logger whose constructor has a bug."""

    name = "unbuildable"

    def __init__(self) -> None:
        raise ValueError("no API key in the environment")


class Plugin:
    @ganzoo.hookimpl
    def register_loggers(self, register) -> None:
        register(Recorder)
        register(Broken)
        register(Unbuildable)


@pytest.fixture(autouse=True, scope="module")
def _plugin(one_torch_thread):
    host().register_plugin(Plugin(), name="test-loggers", dist="ganzoo-trackers", version="1.2")
    try:
        yield
    finally:
        host().unregister_plugin("test-loggers")


# -- the registry -------------------------------------------------------------------------------------------------
def test_builtin_loggers_come_from_ganzoos_entry_point_plugin():
    assert {"jsonl", "tensorboard", "recorder", "broken"} <= set(list_loggers())
    for name in ("jsonl", "tensorboard"):
        entry = host().get("loggers", name)
        assert (entry.plugin, entry.dist) == ("loggers", "ganzoo"), entry
    assert host().get("loggers", "recorder").dist == "ganzoo-trackers"


# -- tensorboard ----------------------------------------------------------------------------------------------------
def test_tensorboard_holds_losses_speed_sample_grids_and_hparams(tmp_path):
    r = tmp_path / "r"
    summary = run(r, loggers=["tensorboard"])
    acc, lines = events(r), metrics(r)
    assert [m["step"] for m in lines] == [1, 2, 3]  # metrics.jsonl as before: jsonl stays on
    for name in lines[0]["losses"]:
        got = acc.Scalars(f"losses/{name}")
        assert [e.step for e in got] == [1, 2, 3]
        assert [e.value for e in got] == pytest.approx([m["losses"][name] for m in lines], rel=1e-6)
    speed = acc.Scalars("images_per_second")
    assert [(e.step, e.value) for e in speed] == [(m["step"], pytest.approx(m["images_per_second"])) for m in lines]
    assert [e.step for e in acc.Scalars("epoch")] == [1, 2, 3]

    images = acc.Images("samples")
    assert [e.step for e in images] == [2, 3]
    assert (images[0].width, images[0].height) == grid_size((1, 8, 8), 4, nrow=2)
    for e in images:  # the very pixels of the PNG grid in samples/
        assert np.array_equal(pixels(e.encoded_image_string), pixels(r / "samples" / f"step-{e.step:08d}.png"))

    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["model"].string_value == "gan" and start.hparams["dataset"].string_value == "tiny"
    assert start.hparams["batch_size"].number_value == 8 and start.hparams["latent_dim"].number_value == 8
    assert start.hparams["g_widths"].string_value == "[16]"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    tags = {m.name.tag for m in experiment.metric_infos}
    assert {"final/images_per_second", "final/losses/g_loss"} <= tags
    assert acc.Scalars("final/images_per_second")[-1].value == pytest.approx(summary.images_per_second, rel=1e-6)
    assert acc.Scalars("final/losses/g_loss")[-1].value == pytest.approx(lines[-1]["losses"]["g_loss"], rel=1e-6)
    assert yaml.safe_load((r / "config.yaml").read_text())["train"]["loggers"] == ["jsonl", "tensorboard"]


def test_a_resumed_run_logs_each_step_once_and_overwrite_starts_afresh(tmp_path):
    r = tmp_path / "r"
    run(r, steps=3, loggers=["tensorboard"])  # checkpoints at 2 and 3
    (r / "checkpoints" / "step-00000003.pt").unlink()  # killed after step 3 was logged: resume from 2
    run(r, steps=4, loggers=["tensorboard"], resume=True)
    assert [e.step for e in events(r).Scalars("losses/g_loss")] == [1, 2, 3, 4]
    assert [e.step for e in events(r).Images("samples")] == [2, 4]
    assert [m["step"] for m in metrics(r)] == [1, 2, 3, 4]
    run(r, steps=2, loggers=["tensorboard"], overwrite=True)
    assert [e.step for e in events(r).Scalars("losses/g_loss")] == [1, 2]


def test_a_tensorboard_folder_that_is_a_link_is_refused(tmp_path):
    r, elsewhere = tmp_path / "r", tmp_path / "elsewhere"
    elsewhere.mkdir()
    r.mkdir()
    (r / "tensorboard").symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="symbolic link"):
        run(r, loggers=["tensorboard"])
    assert list(elsewhere.iterdir()) == []


def test_cli_logger_flag_and_the_zoo_key(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "gan", "--steps", "2", "--batch-size", "8", "--out", str(out), "--quiet", "--device",
                 "cpu", "--logger", "tensorboard", *CLI_TINY]) == 0
    assert [e.step for e in events(out).Scalars("losses/g_loss")] == [1, 2]
    out2 = tmp_path / "r2"
    assert main(["train", "gan", "--steps", "2", "--batch-size", "8", "--out", str(out2), "--quiet", "--device",
                 "cpu", *CLI_TINY, "--set", "train.loggers=[tensorboard]"]) == 0
    assert (out2 / "tensorboard").is_dir() and not (out2 / "metrics.jsonl").exists()


# -- a third party's logger ---------------------------------------------------------------------------------------
def test_a_plugin_logger_receives_the_calls_in_order(tmp_path):
    r = tmp_path / "r"
    Recorder.calls.clear()
    summary = run(r, loggers=["recorder"])
    calls = Recorder.calls
    assert [c[0] if c[0] in ("start", "hparams", "close") else (c[0], c[1]) for c in calls] == [
        "start", ("scalars", 1), ("scalars", 2), ("images", 2), ("scalars", 3), ("images", 3), "hparams", "close"]
    _, run_dir, config, step = calls[0]
    assert run_dir == r and step == 0 and config == yaml.safe_load((r / "config.yaml").read_text())
    for (_, step, values), line in zip([c for c in calls if c[0] == "scalars"], metrics(r)):
        flat = {k: v for k, v in line.items() if k not in ("step", "losses")}
        assert step == line["step"] and values == {**{f"losses/{k}": v for k, v in line["losses"].items()}, **flat}
    (_, _, tag, image) = calls[3]
    assert tag == "samples" and image.dtype == np.uint8
    assert np.array_equal(image, pixels(r / "samples" / "step-00000002.png"))
    _, hparams, final = calls[-2]
    assert (hparams["model"], hparams["batch_size"], hparams["seed"], hparams["g_widths"]) == ("gan", 8, 0, [16])
    assert final["images_per_second"] == summary.images_per_second
    assert final["losses/g_loss"] == metrics(r)[-1]["losses"]["g_loss"]


def test_a_logger_that_raises_is_switched_off_naming_its_plugin_and_training_goes_on(tmp_path):
    r = tmp_path / "r"
    Broken.closed = 0
    with pytest.warns(RuntimeWarning) as seen:
        summary = run(r, loggers=["broken"])
    (warning,) = [str(w.message) for w in seen if "logger 'broken'" in str(w.message)]
    assert ("log_scalars of logger 'broken' (plugin 'test-loggers', distribution 'ganzoo-trackers 1.2') raised "
            "RuntimeError: tracker offline") in warning
    assert "test_loggers.py" in warning and "off for the rest of this run" in warning
    assert summary.steps == 3 and [m["step"] for m in metrics(r)] == [1, 2, 3]
    assert Broken.closed == 0  # switched off: never called again


def test_the_warning_is_one_line_above_the_progress_display(tmp_path, capsys):
    code = main(["train", "gan", "--steps", "2", "--batch-size", "8", "--out", str(tmp_path / "r"), "--device",
                 "cpu", "--logger", "broken", *CLI_TINY])
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: log_scalars of logger 'broken' (plugin 'test-loggers'" in err


def test_a_logger_whose_constructor_raises_stops_the_command_before_any_folder(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "gan", "--steps", "1", "--out", str(out), "--quiet", "--logger", "unbuildable"]) == 2
    err = capsys.readouterr().err
    assert ("the constructor of logger 'unbuildable' (plugin 'test-loggers', distribution 'ganzoo-trackers 1.2') "
            "raised ValueError: no API key in the environment") in err
    assert not out.exists()


# -- names and the missing extra --------------------------------------------------------------------------------
def test_an_unknown_logger_names_the_closest_before_any_folder_is_made(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "gan", "--steps", "1", "--out", str(out), "--quiet", "--logger", "tensorbord"]) == 2
    err = capsys.readouterr().err
    assert "Unknown logger 'tensorbord'. Did you mean 'tensorboard'?" in err and "jsonl" in err
    assert main(["train", "gan", "--steps", "1", "--out", str(out), "--quiet", "--set",
                 "train.loggers=[jsonl,tensorbord]"]) == 2
    err = capsys.readouterr().err
    assert "train.loggers[1]" in err and "'tensorboard'" in err
    assert not out.exists()


def test_tensorboard_missing_is_one_line_naming_the_extra_before_any_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard → ImportError
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    out = tmp_path / "r"
    assert main(["train", "gan", "--steps", "1", "--out", str(out), "--logger", "tensorboard"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'ganzoo[tensorboard]'" in err and len(err.splitlines()) == 1, err
    assert main(["bench", "gan", "--steps", "1", "--out", str(out), "--quiet",
                 "--set", "train.loggers=[jsonl,tensorboard]"]) == 2
    assert "pip install 'ganzoo[tensorboard]'" in capsys.readouterr().err
    assert not out.exists()


# -- bench ------------------------------------------------------------------------------------------------------
def test_bench_hands_the_fid_curve_to_the_loggers(tmp_path):
    out = tmp_path / "bench"
    assert main(["bench", "gan", "--steps", "2", "--n-eval", "128", "--eval-every", "1", "--out", str(out),
                 "--quiet", "--device", "cpu", "--set", "gan.g_widths=[16]", "--set", "gan.d_widths=[16]",
                 "--set", "metrics.kid_subsets=2", "--set", "metrics.kid_subset_size=64", "--set",
                 "metrics.is_splits=2", "--set", "train.loggers=[jsonl,tensorboard]"]) == 0
    r = out / "runs" / "gan-seed0"
    curve = json.loads((r / "fid-curve.json").read_text())["points"]
    assert [p["step"] for p in curve] == [1, 2]
    fid = events(r).Scalars("fid")
    assert [(e.step, e.value) for e in fid] == [(p["step"], pytest.approx(p["fid"], rel=1e-6)) for p in curve]
    assert [m for m in metrics(r) if "fid" in m] == [{"step": p["step"], "fid": p["fid"]} for p in curve]


# -- the tutorial's wandb logger ----------------------------------------------------------------------------------
class FakeRun:
    def __init__(self, **init: Any) -> None:
        self.init, self.logged, self.summary, self.finished = init, [], {}, False

    def log(self, values: dict, step: int) -> None:
        self.logged.append((step, values))

    def finish(self) -> None:
        self.finished = True


def test_the_tutorial_wandb_logger_works_as_written(tmp_path, monkeypatch):
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Writing a logger"):]
    source = section.split("```python\n", 1)[1].split("```", 1)[0]
    runs: list[FakeRun] = []
    wandb = types.ModuleType("wandb")
    wandb.init = lambda **kw: runs.append(FakeRun(**kw)) or runs[-1]
    wandb.Image = lambda array: ("image", array.shape)
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    module = types.ModuleType("ganzoo_wandb_doc")
    exec(compile(source, "ganzoo_wandb_doc.py", "exec"), module.__dict__)  # noqa: S102 — the docs' own example
    host().register_plugin(module, name="wandb-doc")
    try:
        summary = run(tmp_path / "r", steps=2, loggers=["wandb"])
    finally:
        host().unregister_plugin("wandb-doc")
    (wb,) = runs
    assert wb.init["config"]["model"] == "gan" and wb.finished
    assert [step for step, _ in wb.logged] == [1, 2, 2]  # the numbers of steps 1 and 2, then the grid of step 2
    assert wb.logged[0][1]["losses/g_loss"] == metrics(tmp_path / "r")[0]["losses"]["g_loss"]
    assert ("image", (22, 22, 3)) in [v.get("samples") for _, v in wb.logged]
    assert wb.summary["images_per_second"] == summary.images_per_second
