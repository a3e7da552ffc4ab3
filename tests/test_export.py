"""``ganzoo export`` writes a trained model in the Hugging Face layout (config.json + model.safetensors + README.md
model card + sample grid) and ``ganzoo.load``, ``sample``, ``eval`` read it back: bit for bit the run's samples, EMA
included; a hostile or mismatched folder is a one-line error naming the file; ``hf://USER/REPO`` goes through
huggingface_hub's cache (tested offline) and ``--push-to-hub`` through ``HfApi`` (a fake here: no network)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

import ganzoo
from ganzoo.checkpoint import load_model
from ganzoo.cli import main
from ganzoo.errors import ExportError
from ganzoo.export import exported_tensors, write_export
from ganzoo.harness import TrainOptions, train
from ganzoo.registry import host
from ganzoo.sampling import sample_images
from ganzoo.translation import translate_images
from ganzoo_builtin.cgan import CGAN
from ganzoo_builtin.gan import GAN

ROOT = Path(__file__).resolve().parent.parent
CGAN_TINY = ["train.sample_every=0", "cgan.g_channels=8", "cgan.d_channels=8", "cgan.latent_dim=8",
             "cgan.ema_half_life=1"]
GAN_TINY = ["train.sample_every=0", "gan.g_widths=[16]", "gan.d_widths=[16]", "gan.latent_dim=4",
            "gan.ema_half_life=0"]
FILES = {"config.json", "model.safetensors", "README.md", "samples.png"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> dict[str, Path]:
    """Two tiny runs of two steps on the embedded MNIST: a CGAN with a generator average, a GAN without one."""
    root = tmp_path_factory.mktemp("export-runs")
    out = {}
    for name, sets in (("cgan", CGAN_TINY), ("gan", GAN_TINY)):
        train(TrainOptions(model=name, steps=2, batch_size=8, out=str(root / name), device="cpu", overrides=sets),
              quiet=True)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def exports(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each run exported with the CLI."""
    root = tmp_path_factory.mktemp("exports")
    for name, run in runs.items():
        assert main(["export", str(run), "--out", str(root / name)]) == 0
    return {name: root / name for name in runs}


def cli_error(capsys: pytest.CaptureFixture, args: list[str], *named: Path | str) -> str:
    """Run the CLI; it must exit 2 with one line naming each of ``named`` and no traceback."""
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    flat = " ".join(err.split())
    for thing in named:
        assert str(thing) in flat, err
    return flat


def front_matter(card: str) -> dict[str, Any]:
    assert card.startswith("---\n"), card[:80]
    head, _, _ = card[4:].partition("\n---\n")
    return yaml.safe_load(head)


# -- the round trip ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cgan", "gan"])
def test_an_export_samples_bit_for_bit_what_the_run_samples(runs, exports, name) -> None:
    original, _ = load_model(runs[name])
    loaded = ganzoo.load(exports[name])
    assert isinstance(loaded, ganzoo.GenerativeModel) and not loaded.training and loaded.use_ema
    assert (loaded.ema is not None) == (original.ema is not None) == (name == "cgan")
    for use_ema in (True, False):
        original.use_ema = loaded.use_ema = use_ema
        a, labels_a = sample_images(original, 20, seed=7)
        b, labels_b = sample_images(loaded, 20, seed=7)
        assert torch.equal(a, b)
        assert (labels_a is None and labels_b is None) or torch.equal(labels_a, labels_b)
    if name == "cgan":  # the average differs from the trained weights, and the export keeps both
        loaded.use_ema = True
        averaged, _ = sample_images(loaded, 20, seed=7)
        loaded.use_ema = False
        assert not torch.equal(averaged, sample_images(loaded, 20, seed=7)[0])


def test_the_weights_file_holds_what_sampling_needs_and_nothing_else(exports) -> None:
    assert {p.name for p in exports["cgan"].iterdir()} == FILES
    tensors = load_file(exports["cgan"] / "model.safetensors")  # safetensors: no pickle on this path
    assert tensors and all(k.startswith(("G.", "ema.G.")) for k in tensors), sorted(tensors)
    assert any(k.startswith("ema.G.") for k in tensors)
    assert not any(k.startswith("D.") for k in load_file(exports["gan"] / "model.safetensors"))
    for folder in exports.values():
        head = (folder / "model.safetensors").read_bytes()[:2]
        assert head not in (b"PK", b"\x80\x02"), "a zip or a pickle, not safetensors"


def test_config_json_records_the_model_its_data_and_the_format(runs, exports) -> None:
    config = json.loads((exports["cgan"] / "config.json").read_text())
    assert config["format"] == "ganzoo-export" and config["format_version"] == 1
    assert config["ganzoo_version"] == ganzoo.__version__
    assert config["model"] == "cgan" and config["hparams"]["latent_dim"] == 8
    assert config["image_shape"] == [1, 28, 28] and config["num_classes"] == 10
    assert config["class_names"] == [str(i) for i in range(10)]
    assert config["dataset"] == "mnist-embedded" and config["dataset_options"] == {}
    assert config["step"] == 2 and config["ema"] is True and config["scores"] is None
    assert json.loads((exports["gan"] / "config.json").read_text())["ema"] is False


def test_the_model_card_has_front_matter_the_grid_and_how_to_load(exports) -> None:
    card = (exports["cgan"] / "README.md").read_text()
    meta = front_matter(card)
    assert meta["library_name"] == "ganzoo"
    assert {"ganzoo", "cgan", "gan"} <= set(meta["tags"]) and meta["datasets"] == ["mnist-embedded"]
    assert "metrics" not in meta  # no scores: no metrics claimed
    assert "![samples](samples.png)" in card and "ganzoo.load(" in card and "ganzoo sample " in card
    from PIL import Image

    with Image.open(exports["cgan"] / "samples.png") as grid:
        assert grid.format == "PNG" and grid.size[0] > 28


def test_scores_of_a_bench_run_go_into_the_config_and_the_card(runs, tmp_path, capsys) -> None:
    run = Path(shutil.copytree(runs["gan"], tmp_path / "run"))
    _, meta = load_model(run)
    protocol = {"evaluator": "mnist-cnn", "fake_count": 100, "generator": "trained weights"}
    result = {"model": "gan", "fid": 12.5, "kid": 0.01, "inception_score": 3.0, "precision": 0.5, "recall": None,
              "protocol": protocol, "checkpoint": meta["path"]}
    (run / "bench-result.json").write_text(json.dumps(result))
    assert main(["export", str(run), "--out", str(tmp_path / "out")]) == 0
    scores = json.loads((tmp_path / "out" / "config.json").read_text())["scores"]
    assert scores["fid"] == 12.5 and scores["recall"] is None and scores["protocol"] == protocol
    card = (tmp_path / "out" / "README.md").read_text()
    assert {"fid", "kid"} <= set(front_matter(card)["metrics"]) and "12.5" in card and "mnist-cnn" in card

    result["checkpoint"] = str(run / "checkpoints" / "step-00000001.pt")  # scores of another checkpoint
    (run / "bench-result.json").write_text(json.dumps(result))
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "out2")]) == 0
    assert json.loads((tmp_path / "out2" / "config.json").read_text())["scores"] is None
    assert "step-00000001.pt" in " ".join(capsys.readouterr().out.split())


# -- the commands on an export --------------------------------------------------------------------------------------
def test_ganzoo_sample_and_eval_take_an_export(exports, tmp_path, capsys) -> None:
    capsys.readouterr()
    assert main(["sample", str(exports["cgan"]), "--label", "3", "--n", "8", "--out", str(tmp_path / "s.npz")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "moving average" in out and str(exports["cgan"]) in out
    import numpy as np

    assert (np.load(tmp_path / "s.npz")["labels"] == 3).all()
    assert main(["eval", str(exports["gan"]), "--n", "100", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "gan" and result["fid"] > 0 and result["protocol"]["fake_count"] == 100
    assert "mnist-embedded" in json.dumps(result["protocol"])


def test_the_export_command_says_what_it_wrote(runs, tmp_path, capsys) -> None:
    capsys.readouterr()
    assert main(["export", str(runs["gan"]), "--out", str(tmp_path / "e")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"exported gan at step 2 to {tmp_path / 'e'}" in out and "ganzoo.load(" in out


def test_load_also_takes_a_run_folder(runs) -> None:
    model = ganzoo.load(runs["cgan"])
    assert not model.training and model.ema is not None and model.use_ema


# -- writing: where and what it overwrites --------------------------------------------------------------------------
def test_a_non_empty_folder_that_is_not_an_export_needs_overwrite(runs, tmp_path, capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    cli_error(capsys, ["export", str(runs["gan"]), "--out", str(out)], out, "--overwrite")
    assert {p.name for p in out.iterdir()} == {"notes.txt"}
    assert main(["export", str(runs["gan"]), "--out", str(out), "--overwrite"]) == 0
    assert {p.name for p in out.iterdir()} == FILES | {"notes.txt"}
    assert (out / "notes.txt").read_text() == "keep me"
    assert main(["export", str(runs["cgan"]), "--out", str(out)]) == 0  # an export is replaced without asking
    assert ganzoo.load(out).name == "cgan"


def test_an_unwritable_output_is_a_one_line_error(runs, tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    cli_error(capsys, ["export", str(runs["gan"]), "--out", str(tmp_path / "file" / "sub")], tmp_path / "file")


# -- reading: hostile and mismatched folders -------------------------------------------------------------------------
def edit_config(change: Callable[[dict], Any]) -> Callable[[Path], Path]:
    def apply(folder: Path) -> Path:
        path = folder / "config.json"
        config = json.loads(path.read_text())
        change(config)
        path.write_text(json.dumps(config))
        return path
    return apply


def put(key: str, value: Any) -> Callable[[Path], Path]:
    def change(config: dict) -> None:
        *parents, last = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[last] = value
    return edit_config(change)


def raw_config(text: str) -> Callable[[Path], Path]:
    def apply(folder: Path) -> Path:
        (folder / "config.json").write_text(text)
        return folder / "config.json"
    return apply


def edit_weights(change: Callable[[dict], None]) -> Callable[[Path], Path]:
    def apply(folder: Path) -> Path:
        path = folder / "model.safetensors"
        tensors = load_file(path)
        change(tensors)
        save_file(tensors, path)
        return path
    return apply


def _first(tensors: dict, prefix: str = "G.") -> str:
    return next(k for k in sorted(tensors) if k.startswith(prefix) and tensors[k].is_floating_point())


def _poison(tensors: dict) -> None:
    tensors[_first(tensors)].view(-1)[0] = float("inf")


def _reshape(tensors: dict) -> None:
    k = _first(tensors)
    tensors[k] = torch.zeros(tensors[k].numel() + 1)


def _retype(tensors: dict) -> None:
    k = _first(tensors)
    tensors[k] = tensors[k].double()


def _drop_ema(tensors: dict) -> None:
    for k in [k for k in tensors if k.startswith("ema.")]:
        del tensors[k]


def raw_weights(data: bytes) -> Callable[[Path], Path]:
    def apply(folder: Path) -> Path:
        (folder / "model.safetensors").write_bytes(data)
        return folder / "model.safetensors"
    return apply


def weights_folder(folder: Path) -> Path:
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").mkdir()
    return folder / "model.safetensors"


def no_weights(folder: Path) -> Path:
    (folder / "model.safetensors").unlink()
    return folder / "model.safetensors"


CONFIG_CASES = [
    ("not-json", raw_config("{"), "JSON"),
    ("nan", raw_config('{"format": "ganzoo-export", "step": NaN}'), "NaN"),
    ("not-a-mapping", raw_config("[1, 2]"), "mapping"),
    ("unknown-key", put("colour", "red"), "colour"),
    ("format", put("format", "diffusers"), "format"),
    ("format-version", put("format_version", 2), "format_version"),
    ("no-model", edit_config(lambda c: c.pop("model")), "model"),
    ("unregistered", put("model", "nosuchgan"), "nosuchgan"),
    ("bad-hparam", put("hparams.latent_dim", -5), "latent_dim"),
    ("unknown-hparam", put("hparams.no_such_thing", 1), "no_such_thing"),
    ("hparams-not-a-mapping", put("hparams", "fast"), "hparams"),
    ("huge-image", put("image_shape", [1, 100000, 100000]), "image_shape"),
    ("image-shape-text", put("image_shape", "1x28x28"), "image_shape"),
    ("no-classes", put("num_classes", 0), "num_classes"),
    ("class-names", put("class_names", ["a", "b"]), "class_names"),
    ("seed", put("seed", -1), "seed"),
    ("step", put("step", "abc"), "step"),
    ("ema-not-bool", put("ema", "yes"), "ema"),
    ("dataset-options", put("dataset_options", [1]), "dataset_options"),
    ("scores", put("scores", "great"), "scores"),
]
WEIGHT_CASES = [
    ("missing", edit_weights(lambda t: t.pop(_first(t))), "G."),
    ("extra", edit_weights(lambda t: t.update({"D.1.weight": torch.zeros(1, 4)})), "D.1.weight"),
    ("shape", edit_weights(_reshape), "G."),
    ("dtype", edit_weights(_retype), "float64"),
    ("non-finite", edit_weights(_poison), "non-finite"),
    ("no-average", edit_weights(_drop_ema), "ema.G."),
    ("random-bytes", raw_weights(os.urandom(64)), "damaged"),
    ("empty", raw_weights(b""), "damaged"),
    ("a-folder", weights_folder, "not a regular file"),
    ("absent", no_weights, "does not exist"),
]


@pytest.mark.parametrize("case,damage,word", CONFIG_CASES + WEIGHT_CASES,
                         ids=[c[0] for c in CONFIG_CASES + WEIGHT_CASES])
def test_a_hostile_or_mismatched_export_is_a_one_line_error_naming_the_file(
        exports, tmp_path, capsys, monkeypatch, case, damage, word) -> None:
    folder = Path(shutil.copytree(exports["cgan"], tmp_path / "export"))
    path = damage(folder)
    if (case, damage, word) in CONFIG_CASES:
        def never(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("a model was built from a config.json that had not been checked")

        monkeypatch.setattr(CGAN, "__init__", never)  # 1×100000×100000 would ask for terabytes
    err = cli_error(capsys, ["sample", str(folder), "--out", str(tmp_path / "s.png")], path, word)
    assert not (tmp_path / "s.png").exists(), err
    with pytest.raises(ExportError, match=word.replace(".", r"\.")):
        ganzoo.load(folder)


def test_a_folder_that_is_not_an_export_or_a_run_is_refused(tmp_path, capsys) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "weights.bin").write_bytes(b"123")
    err = cli_error(capsys, ["sample", str(tmp_path / "stuff")], tmp_path / "stuff", "ganzoo export")
    assert "config.json" in err
    with pytest.raises(ganzoo.CheckpointError):
        ganzoo.load(tmp_path / "stuff")


def test_loading_an_export_leaves_the_callers_random_state_alone(exports) -> None:
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    ganzoo.load(exports["gan"])
    assert torch.equal(before, torch.random.get_rng_state())


# -- the Hugging Face Hub: offline cache and a fake HfApi --------------------------------------------------------------
REVISION = "0123456789abcdef0123456789abcdef01234567"


def fill_hub_cache(cache: Path, repo: str, export: Path) -> Path:
    """Place ``export`` in huggingface_hub's cache layout as ``repo``'s main revision."""
    storage = cache / f"models--{repo.replace('/', '--')}"
    snapshot = storage / "snapshots" / REVISION
    shutil.copytree(export, snapshot)
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(REVISION)
    return snapshot


@pytest.fixture()
def offline_hub(tmp_path, monkeypatch) -> Path:
    """huggingface_hub offline, with its cache in a temporary folder (its constants are read at import)."""
    constants = pytest.importorskip("huggingface_hub.constants")
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_load_from_the_hub_cache_offline(exports, offline_hub) -> None:
    fill_hub_cache(offline_hub, "someone/tiny-cgan", exports["cgan"])
    model = ganzoo.load("hf://someone/tiny-cgan")
    local = ganzoo.load(exports["cgan"])
    assert torch.equal(sample_images(model, 10, seed=1)[0], sample_images(local, 10, seed=1)[0])
    assert ganzoo.load(f"hf://someone/tiny-cgan@{REVISION}").name == "cgan"


def test_a_repo_missing_from_the_cache_offline_is_a_one_line_error(offline_hub, capsys) -> None:
    err = cli_error(capsys, ["sample", "hf://someone/absent"], "hf://someone/absent", "HF_HUB_OFFLINE")
    assert "network" in err


@pytest.mark.parametrize("uri", ["hf://", "hf://onlyname", "hf://a/b/c", "hf://bad name/x"])
def test_a_malformed_hub_address_is_a_one_line_error(uri, capsys) -> None:
    cli_error(capsys, ["sample", uri], "USER/REPO")


def test_without_huggingface_hub_the_error_names_the_extra(monkeypatch, runs, tmp_path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import huggingface_hub now fails
    cli_error(capsys, ["sample", "hf://someone/x"], "pip install 'ganzoo[hub]'")
    cli_error(capsys, ["export", str(runs["gan"]), "--out", str(tmp_path / "e"), "--push-to-hub", "me/x"],
              "pip install 'ganzoo[hub]'")
    assert not (tmp_path / "e").exists()  # checked before anything is written


def test_ganzoo_sample_from_the_hub_cache_with_hf_hub_offline(exports, tmp_path) -> None:
    """The user's way: HF_HUB_OFFLINE=1 and HF_HOME in the environment of a fresh process."""
    pytest.importorskip("huggingface_hub")
    fill_hub_cache(tmp_path / "hf-home" / "hub", "someone/tiny-gan", exports["gan"])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
    env.pop("HF_HUB_CACHE", None)
    env.pop("HUGGINGFACE_HUB_CACHE", None)
    result = subprocess.run([sys.executable, "-m", "ganzoo", "sample", "hf://someone/tiny-gan", "--n", "4",
                             "--out", str(tmp_path / "s.png")], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s.png").is_file() and "hf://someone/tiny-gan" in " ".join(result.stdout.split())


class FakeHfApi:
    """Records what ganzoo asks of the Hub."""

    calls: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs: Any) -> str:
        folder = Path(kwargs["folder_path"])
        self.calls.append(("upload_folder", {**kwargs, "files": sorted(p.name for p in folder.iterdir())}))
        return f"https://huggingface.co/{kwargs['repo_id']}/commit/abc"


def test_push_to_hub_creates_the_repo_and_uploads_the_export(runs, tmp_path, monkeypatch, capsys) -> None:
    hub = pytest.importorskip("huggingface_hub")
    FakeHfApi.calls = []
    monkeypatch.setattr(hub, "HfApi", FakeHfApi)
    out = tmp_path / "e"
    out.mkdir()
    (out / "private-notes.txt").write_text("not for the Hub")
    capsys.readouterr()
    assert main(["export", str(runs["cgan"]), "--out", str(out), "--overwrite", "--push-to-hub", "me/tiny-cgan",
                 "--private"]) == 0
    assert "https://huggingface.co/me/tiny-cgan" in capsys.readouterr().out
    (kind, create), (kind2, upload) = FakeHfApi.calls
    assert kind == "create_repo" and create["repo_id"] == "me/tiny-cgan" and create["private"] is True
    assert create["exist_ok"] is True
    assert kind2 == "upload_folder" and upload["repo_id"] == "me/tiny-cgan" and Path(upload["folder_path"]) == out
    assert set(upload["allow_patterns"]) == FILES  # the notes beside the export stay home
    card = (out / "README.md").read_text()
    assert 'ganzoo.load("hf://me/tiny-cgan")' in card and "ganzoo sample hf://me/tiny-cgan" in card


def test_push_to_hub_offline_is_a_one_line_error_before_anything_is_written(runs, tmp_path, offline_hub,
                                                                            capsys) -> None:
    err = cli_error(capsys, ["export", str(runs["gan"]), "--out", str(tmp_path / "e"), "--push-to-hub", "me/x"],
                    "me/x", "HF_HUB_OFFLINE")
    assert "network" in err
    assert not (tmp_path / "e").exists()


def test_a_failed_upload_keeps_the_export_and_says_how_to_retry(runs, tmp_path, monkeypatch, capsys) -> None:
    hub = pytest.importorskip("huggingface_hub")

    class Unreachable(FakeHfApi):
        def upload_folder(self, **kwargs: Any) -> str:
            raise ConnectionError("Name or service not known")

    monkeypatch.setattr(hub, "HfApi", Unreachable)
    out = tmp_path / "e"
    err = cli_error(capsys, ["export", str(runs["gan"]), "--out", str(out), "--push-to-hub", "me/x"],
                    "me/x", "Name or service not known", out)
    assert "network" in err
    assert ganzoo.load(out).name == "gan"  # the local export is complete


def test_pyproject_declares_the_hub_extra_and_safetensors() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("safetensors") for d in project["dependencies"])
    assert not any(d.startswith("huggingface_hub") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert any(d.startswith("huggingface_hub") for d in extras["hub"])
    assert any(d.startswith("huggingface_hub") for d in extras["dev"])


# -- every model, and one that names no sample networks ---------------------------------------------------------------
class WholeGAN(GAN):
    """A GAN that does not say which networks sample: an export keeps every network."""

    name = "wholegan"
    sample_networks = ()


class WholePlugin:
    @ganzoo.hookimpl
    def register_models(self, register) -> None:
        register(WholeGAN)


def _meta(name: str, shape: tuple[int, int, int], classes: int) -> dict[str, Any]:
    return {"model": name, "step": 1, "image_shape": shape, "num_classes": classes, "class_names": None,
            "config": {}, "path": "in memory"}


@pytest.mark.parametrize("name", ganzoo.list_models())
def test_every_registered_model_round_trips_with_its_average(name, tmp_path, one_torch_thread) -> None:
    translates = host().get("models", name).obj.translates
    classes = 2 if translates else 3  # a translation model's two classes are its domains
    model = ganzoo.create_model(name, image_shape=(1, 16, 16), num_classes=classes, ema_half_life=1.0)
    model.update_ema(1)
    model.eval()
    assert model.ema is not None
    write_export(model, _meta(name, (1, 16, 16), classes), tmp_path)
    loaded = ganzoo.load(tmp_path)
    assert set(load_file(tmp_path / "model.safetensors")) == set(exported_tensors(model))
    if translates:
        images = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
        assert torch.equal(translate_images(model, images, 0), translate_images(loaded, images, 0))
    else:
        assert torch.equal(sample_images(model, 6, seed=1)[0], sample_images(loaded, 6, seed=1)[0])


def test_a_model_naming_no_sample_networks_exports_every_network_and_names_its_plugin(tmp_path, capsys) -> None:
    host().register_plugin(WholePlugin(), name="export-whole", dist="ganzoo-export-whole", version="0.3")
    try:
        model = ganzoo.create_model("wholegan", image_shape=(1, 8, 8), num_classes=2, g_widths=[8], d_widths=[8])
        write_export(model.eval(), _meta("wholegan", (1, 8, 8), 2), tmp_path)
        heads = {k.split(".")[0] for k in load_file(tmp_path / "model.safetensors")}
        assert heads == {"G", "D"}
        assert "ganzoo-export-whole" in (tmp_path / "README.md").read_text()
        assert torch.equal(sample_images(model, 4, seed=2)[0], sample_images(ganzoo.load(tmp_path), 4, seed=2)[0])
    finally:
        host().unregister_plugin("export-whole")
    # the plugin gone: the error names the model and the distribution to install
    cli_error(capsys, ["sample", str(tmp_path)], "wholegan", "ganzoo-export-whole", tmp_path / "config.json")


def test_a_compact_export_keeps_only_the_average_in_float16(runs, exports, tmp_path, capsys) -> None:
    """--compact: the weights samples come from (the average), float16, a quarter of the full export's bytes; it
    samples what the full export samples up to float16 rounding and says which weights it holds."""
    out = tmp_path / "compact"
    assert main(["export", str(runs["cgan"]), "--out", str(out), "--compact"]) == 0
    assert "moving average, float16" in capsys.readouterr().out
    tensors = load_file(out / "model.safetensors")
    assert not any(k.startswith("ema.") for k in tensors)
    assert {t.dtype for t in tensors.values() if t.is_floating_point()} == {torch.float16}
    full = (exports["cgan"] / "model.safetensors").stat().st_size
    assert (out / "model.safetensors").stat().st_size < full / 3
    config = json.loads((out / "config.json").read_text())
    assert config["weights_dtype"] == "float16" and config["weights_source"] == "moving average"
    assert config["ema"] is False
    small, whole = ganzoo.load(out), ganzoo.load(exports["cgan"])
    a, _ = sample_images(small, 16, seed=3)
    b, _ = sample_images(whole, 16, seed=3)
    assert not torch.equal(a, b) and torch.allclose(a, b, atol=2e-2)
    assert main(["sample", str(out), "--raw", "--out", str(tmp_path / "x.png")]) == 2
    assert "holds only the moving average" in capsys.readouterr().err
    assert main(["eval", str(out), "--n", "100", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["protocol"]["generator"].startswith("moving average")
