"""Your own images, end to end, as the README's "Your own images" section runs them: a folder the test writes (grey
and RGB, two sizes), then train, evaluator fit, eval and bench with the same --dataset/--data-root/--data-option."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

import ganzoo
from ganzoo.cli import main
from ganzoo import data as gdata
from ganzoo.data import ImageData, load_dataset
from ganzoo.errors import DataError, PluginError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CLASSES = ("disc", "bar", "ring", "dot")


def write_folder(folder: Path, channels: int, size: int, per_class: int = 20) -> Path:
    """``per_class`` images of each of four classes, one sub-folder per class (the imagefolder layout)."""
    g = torch.Generator().manual_seed(size + channels)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for c, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cy, cx = (torch.randint(size // 4, 3 * size // 4, (2,), generator=g)).tolist()
            r = ((yy - cy) ** 2 + (xx - cx) ** 2).float().sqrt()
            mask = [r < size / 4, (xx - cx).abs() < 2, (r - size / 5).abs() < 1.5, r < 2][c]
            colour = torch.randint(80, 256, (channels,), generator=g).to(torch.uint8)
            pixels = (mask[None].to(torch.uint8) * colour[:, None, None]).permute(1, 2, 0).squeeze(-1).numpy()
            Image.fromarray(pixels, mode="L" if channels == 1 else "RGB").save(folder / name / f"{i:03d}.png")
    return folder


def cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """``ganzoo ARGV`` in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(err: str, *needles: str) -> None:
    """A user error: one ``error:`` line, no traceback, naming each of ``needles``."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


TRAIN = ("--steps", "2", "--set", "train.sample_every=0", "--set", "train.checkpoint_every=0", "--quiet")


@pytest.mark.parametrize("channels,size", [(1, 16), (3, 24)])
def test_train_fit_eval_and_bench_on_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch, channels: int, size: int) -> None:
    """The README's five commands on a folder of grey or RGB images, eval run from another folder."""
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "shapes", channels, size)
    opts = ("--dataset", "imagefolder", "--data-root", "shapes", "--data-option", f"channels={channels}")
    code, _, err = cli(capsys, "train", "cgan", *opts, "--out", "run", *TRAIN)
    assert code == 0, err
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["data_root"] == str(tmp_path / "shapes")  # recorded absolute: eval works from anywhere
    assert config["image_shape"] == [channels, size, size] and config["num_classes"] == 4
    assert config["class_names"] == sorted(CLASSES)

    # 80 images: the default hold-out is a fifth of them, not 1,000
    code, out, err = cli(capsys, "evaluator", "fit", "imagefolder", "--data-root", "shapes", "--data-option",
                         f"channels={channels}", "--epochs", "1", "--name", "shapes-cnn", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["heldout_count"] == 16 and record["image_shape"] == [channels, size, size]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = cli(capsys, "eval", tmp_path / "run", "--evaluator", "shapes-cnn", "--n", "100", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["protocol"]["evaluator"] == "shapes-cnn"
    assert result["protocol"]["dataset"] == f"imagefolder (channels={channels}, data root {tmp_path / 'shapes'})"
    assert result["protocol"]["real_count"] == 80 and 0 <= result["class_accuracy"] <= 1

    # bench: the evaluator named in a --config file's datasets section, and the folder through the same flags
    monkeypatch.chdir(tmp_path)
    zoo = tmp_path / "mine.yaml"
    zoo.write_text("datasets:\n  imagefolder:\n    evaluator: shapes-cnn\n")
    code, out, err = cli(capsys, "bench", "cgan", *opts, "--config", zoo, "--steps", "2", "--n-eval", "100",
                         "--eval-every", "0", "--out", tmp_path / "bench", "--quiet", "--json")
    assert code == 0, err
    results = json.loads(out)
    assert results["protocol"]["evaluator"] == "shapes-cnn"
    assert results["dataset"] == f"imagefolder (channels={channels}, data root {tmp_path / 'shapes'})"
    run_config = yaml.safe_load((tmp_path / "bench" / "runs" / "cgan-seed0" / "config.yaml").read_text())
    assert run_config["data_root"] == str(tmp_path / "shapes") and run_config["image_shape"][0] == channels


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step cgan run on an RGB folder given as --data-option path=DIR (relative), and its folder."""
    base = tmp_path_factory.mktemp("own")
    write_folder(base / "shapes", 3, 16)
    cwd = os.getcwd()
    os.chdir(base)
    try:
        assert main(["train", "cgan", "--dataset", "imagefolder", "--data-option", "path=shapes", "--out", "run",
                     *TRAIN]) == 0
    finally:
        os.chdir(cwd)
    return base


def test_a_path_option_is_recorded_absolute(folder_run: Path) -> None:
    config = yaml.safe_load((folder_run / "run" / "config.yaml").read_text())
    assert config["dataset_options"] == {"path": str(folder_run / "shapes")}
    assert gdata.DataSpec.from_record(config).load().image_shape == (3, 16, 16)


def test_eval_flags_override_what_the_run_recorded(folder_run: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    """Another folder of other-sized images is refused naming both shapes; an unknown data set names the closest."""
    write_folder(tmp_path / "big", 3, 24)
    code, _, err = cli(capsys, "eval", folder_run / "run", "--data-option", f"path={tmp_path / 'big'}",
                       "--evaluator", "mnist-cnn", "--n", "100")
    assert code == 2
    assert_one_line_error(err, "3×16×16", "3×24×24", "--data-option")
    code, _, err = cli(capsys, "eval", folder_run / "run", "--dataset", "mnist-embeded")
    assert code == 2
    assert_one_line_error(err, "mnist-embeded", "Did you mean 'mnist-embedded'")
    assert "Inception" not in err


def test_bench_checks_the_evaluator_before_training(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing InceptionV3 weights, an unknown evaluator (flag or zoo.yaml) or one that cannot read these images:
    an error before any run folder is made."""
    write_folder(tmp_path / "shapes", 3, 16, per_class=3)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # no InceptionV3 weights there
    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    base = ("bench", "gan", "--dataset", "imagefolder", "--data-root", tmp_path / "shapes", "--steps", "2",
            "--out", tmp_path / "out", "--quiet")
    for extra, needles in (((), ("InceptionV3 weights",)),
                           (("--evaluator", "nope"), ("Unknown evaluator 'nope'",)),
                           (("--set", "datasets.imagefolder.evaluator=nope2"), ("Unknown evaluator 'nope2'",)),
                           (("--evaluator", "mnist-cnn"), ("mnist-cnn", "1×28×28", "3×16×16"))):
        code, _, err = cli(capsys, *base, *extra)
        assert code == 2, extra
        assert_one_line_error(err, *needles)
        assert not (tmp_path / "out" / "runs").exists()


def test_bench_reads_a_partial_config_and_its_suites(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A --config file with only some keys is merged over zoo.yaml; a suite in it is used, with its data."""
    write_folder(tmp_path / "shapes", 1, 16)
    zoo = tmp_path / "mine.yaml"
    zoo.write_text(f"bench:\n  suite: mine\n  suites:\n    mine:\n      models: [gan]\n      dataset: imagefolder\n"
                   f"      dataset_options: {{path: {tmp_path / 'shapes'}, channels: 1}}\n      evaluator: pixels\n"
                   f"      steps: 2\n      n_eval: 100\n")
    seen = {}
    import ganzoo.bench.runner as runner

    def fake(plan, *args, **kwargs):
        seen["plan"] = plan
        raise SystemExit(0)

    monkeypatch.setattr(runner, "prepare_scoring", lambda spec, **kw: fake(spec, **kw))
    with pytest.raises(SystemExit):
        main(["bench", "--config", str(zoo), "--out", str(tmp_path / "out"), "--quiet"])
    assert seen["plan"] == gdata.DataSpec("imagefolder", {"path": str(tmp_path / "shapes"), "channels": 1})
    partial = tmp_path / "partial.yaml"
    partial.write_text("datasets:\n  imagefolder:\n    evaluator: pixels\n")
    with pytest.raises(SystemExit):
        main(["bench", "gan", "--config", str(partial), "--out", str(tmp_path / "out"), "--quiet"])
    assert seen["plan"] == gdata.DataSpec("mnist-embedded", {}, None)


def test_data_flag_mistakes_name_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "train", "gan", "--data-option", "junk", "--out", tmp_path / "r", *TRAIN)
    assert code == 2
    assert_one_line_error(err, "--data-option 'junk': expected KEY=VALUE")
    code, _, err = cli(capsys, "train", "gan", "--minutes", "-1", "--out", tmp_path / "r", "--quiet")
    assert code == 2
    assert_one_line_error(err, "--minutes -1: must be positive")
    code, _, err = cli(capsys, "evaluator", "fit", "mnist-embedded", "--data-option", "size=3", "--epochs", "1")
    assert code == 2
    assert_one_line_error(err, "takes no option 'size' (--data-option)")


def test_errors_of_a_data_set_loader_name_its_plugin(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    from ganzoo.registry import host

    def raising(root, download=False):
        return {}["missing key"]

    def bad_labels(root, download=False):
        return ImageData("broken", torch.zeros(8, 1, 8, 8, dtype=torch.uint8), torch.arange(8), 2)

    for loader, needles in ((raising, ("KeyError", "'broken-plugin'", "ganzoo-broken")),
                            (bad_labels, ("labels from 0 to 7", "2 classes", "'broken-plugin'"))):
        host().register_plugin(_Plugin(loader), name="broken-plugin", dist="ganzoo-broken")
        try:
            with pytest.raises(PluginError) as info:
                load_dataset("broken")
            for needle in needles:
                assert needle in str(info.value)
            assert "cgan" not in str(info.value)
            code, _, err = cli(capsys, "train", "cgan", "--dataset", "broken", "--out", tmp_path / "r", *TRAIN)
            assert code == 2
            assert_one_line_error(err, *needles)
        finally:
            host().unregister_plugin("broken-plugin")
    assert "broken" not in host().names("datasets")


class _Plugin:
    """An in-process data set plugin whose loader is ``loader``."""

    def __init__(self, loader) -> None:
        self.loader = loader

    @ganzoo.hookimpl
    def register_datasets(self, register) -> None:
        register("broken", self.loader, "a test data set")


def test_a_loader_os_error_is_a_data_error_not_a_bug(capsys: pytest.CaptureFixture) -> None:
    """An unreadable file is the user's files' fault, not the plugin's: a DataError naming the file."""
    from ganzoo.registry import host

    def unreadable(root, download=False):
        raise PermissionError(13, "Permission denied", "/data/shapes/disc/001.png")

    host().register_plugin(_Plugin(unreadable), name="broken-plugin", dist="ganzoo-broken")
    try:
        with pytest.raises(DataError, match=r"Permission denied \(/data/shapes/disc/001.png\)"):
            load_dataset("broken")
    finally:
        host().unregister_plugin("broken-plugin")


def test_every_file_ganzoo_reads_is_checked_before_it_is_opened(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO would block forever if opened: a checkpoint, an evaluator or a zoo file that is one is refused."""
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    for argv, needles in (
            (("sample", fifo), ("checkpoint", "pipe.pt", "not a regular file (a FIFO)")),
            (("eval", fifo), ("checkpoint", "pipe.pt", "not a regular file (a FIFO)")),
            (("bench", "gan", "--evaluator", fifo, "--steps", "1", "--out", tmp_path / "o", "--quiet"),
             ("evaluator file", "pipe.pt", "not a regular file (a FIFO)")),
            (("info", "gan"), ("pipe.pt", "not a regular file (a FIFO)", "$GANZOO_CONFIG"))):
        if argv[0] == "info":
            monkeypatch.setenv("GANZOO_CONFIG", str(fifo))
        code, _, err = cli(capsys, *argv)
        assert code == 2, argv
        assert_one_line_error(err, *needles)


def test_sample_takes_a_class_by_the_name_the_run_recorded(folder_run: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "ring.npz"
    code, _, err = cli(capsys, "sample", folder_run / "run", "--label", "ring", "--n", "4", "--out", out)
    assert code == 0, err
    import numpy as np

    assert np.load(out)["labels"].tolist() == [sorted(CLASSES).index("ring")] * 4
    code, _, err = cli(capsys, "sample", folder_run / "run", "--label", "rign", "--out", tmp_path / "x.png")
    assert code == 2
    assert_one_line_error(err, "--label 'rign'", "Did you mean 'ring'", "bar, disc, dot, ring")
