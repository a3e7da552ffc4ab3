"""Writing a plugin: ganzoo.testing's conformance check, `ganzoo new-plugin`, and the example LSGAN package."""
from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo import hookspecs, registry
from ganzoo.adversarial import AdversarialModel
from ganzoo.cli import main
from ganzoo.errors import PluginError, UnknownNameError
from ganzoo.guard import checked_losses
from ganzoo.testing import CHECKS, ConformanceError, check_model, make_distribution, tiny_batch

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "ganzoo-lsgan"
DOCS = REPO / "docs" / "plugins.md"
SHAPES = [(1, 28, 28), (3, 16, 16)]  # the usual grey size and a small colour one
TINY_LSGAN = {"width": 4, "latent_dim": 8}
TINY_LSGAN_SET = ["--set", "lsgan.width=4", "--set", "lsgan.latent_dim=8"]


# -- installing a package the way pip does, into a folder ------------------------------------------------------
def install_package(src: Path, site: Path, work: Path) -> Path:
    """Install the package at ``src`` into ``site`` (offline pip when setuptools is here, else by hand); its copy."""
    copy = work / src.name
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    if importlib.util.find_spec("setuptools") is not None:
        env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1",
               "PIP_ROOT_USER_ACTION": "ignore"}
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                               "--no-build-isolation", "--target", str(site), str(copy)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"pip install {src.name} failed:\n{done.stdout}\n{done.stderr}"
        return copy
    tomllib = pytest.importorskip("tomllib", reason="needs setuptools (pip) or Python 3.11's tomllib")
    meta = tomllib.loads((copy / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    make_distribution(site, project["name"], project["version"], project["entry-points"]["ganzoo"])
    for package in meta["tool"]["setuptools"]["packages"]:
        shutil.copytree(copy / package, site / package)
    return copy


def forget_modules(root: Path) -> None:
    """Drop the modules imported from ``root`` so later tests import their own copies."""
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(root)):
            del sys.modules[name]


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch):
    """Put folders on sys.path for one test and rediscover the plugins; undone afterwards."""
    added: list[Path] = []

    def add(folder: Path) -> None:
        monkeypatch.syspath_prepend(str(folder))
        added.append(folder)
        registry.reset()

    yield add
    for folder in added:
        forget_modules(folder)
    registry.reset()


@pytest.fixture(scope="module")
def lsgan_install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """examples/ganzoo-lsgan installed into a fresh folder: (site folder, the source copy it was built from)."""
    site = tmp_path_factory.mktemp("lsgan-site")
    copy = install_package(EXAMPLE, site, tmp_path_factory.mktemp("lsgan-src"))
    return site, copy


@pytest.fixture
def lsgan(lsgan_install, on_path) -> Path:
    """The example LSGAN plugin, installed and discoverable for one test."""
    on_path(lsgan_install[0])
    return lsgan_install[0]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and a busy CI machine cannot oversubscribe it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def listed(capsys: pytest.CaptureFixture) -> dict[str, dict]:
    """``ganzoo list --json`` by model name."""
    assert main(["list", "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


# -- the conformance check on every registered model -----------------------------------------------------------
@pytest.mark.parametrize("name", ganzoo.list_models())
def test_every_registered_model_passes_the_conformance_check(name):
    report = check_model(name, image_shapes=SHAPES)
    expected = [c for c in CHECKS if c != "labels" or ganzoo.model_class(name).conditional]
    assert report.passed == {shape: expected for shape in SHAPES}
    assert all(report.losses[shape] for shape in SHAPES)


# -- ... and on deliberately broken models ---------------------------------------------------------------------
class Toy(AdversarialModel):
    """A tiny MLP GAN that meets the contract; the classes below each break one rule."""

    name = "toy"
    description = "a toy for the conformance tests"
    defaults = {**AdversarialModel.defaults, "latent_dim": 8, "hidden": 16}

    def __init__(self, hparams=None, image_shape=(1, 28, 28), num_classes=10):
        super().__init__(hparams, image_shape, num_classes)
        pixels = int(torch.tensor(self.image_shape).prod())
        cond = num_classes if self.conditional else 0
        self.G = nn.Sequential(nn.Linear(self.hp.latent_dim + cond, self.hp.hidden), nn.ReLU(),
                               nn.Linear(self.hp.hidden, pixels), nn.Tanh())
        self.D = nn.Sequential(nn.Linear(pixels, self.hp.hidden), nn.LeakyReLU(0.2), nn.Linear(self.hp.hidden, 1))
        self.build_optimizers()

    def generate(self, z, labels):
        return self.G(z).view(-1, *self.image_shape)

    def discriminate(self, images, labels):
        return self.D(images.flatten(1)).squeeze(1)


class ConditionalToy(Toy):
    """Uses the labels: one-hot joined to z."""

    conditional = True

    def generate(self, z, labels):
        return self.G(torch.cat([z, nn.functional.one_hot(labels, self.num_classes).float()], 1)).view(
            -1, *self.image_shape)


class NanLoss(Toy):
    def train_step(self, batch, step):
        return {**super().train_step(batch, step), "g_loss": torch.tensor(float("nan"))}


class WrongSampleShape(Toy):
    def sample(self, n, labels=None, *, generator=None):
        return super().sample(n, labels, generator=generator)[..., 1:]


class NotADict(Toy):
    def train_step(self, batch, step):
        return list(super().train_step(batch, step).values())


class LabelsIgnored(ConditionalToy):
    def generate(self, z, labels):
        return Toy.generate(self, torch.cat([z, torch.zeros(z.size(0), self.num_classes)], 1), None)


class OutOfRange(Toy):
    def generate(self, z, labels):
        return 3 * super().generate(z, labels)


class KeepsGraph(Toy):
    def train_step(self, batch, step):
        out = super().train_step(batch, step)
        out["penalty"] = self.G[0].weight.sum()
        return out


class IgnoresGenerator(Toy):
    def sample(self, n, labels=None, *, generator=None):
        return super().sample(n, labels)


class UntrainedD(Toy):
    def build_optimizers(self):
        self.optimizers = {"G": torch.optim.Adam(self.G.parameters(), lr=self.hp.lr_g)}

    def train_step(self, batch, step):
        fake = self.generate(self.noise(batch.images.size(0), self.hp.latent_dim), None)
        loss = self.generator_loss(fake, None)
        self.optimize("G", loss)
        return {"g_loss": loss.detach()}


class NoUpdate(Toy):
    def train_step(self, batch, step):
        with torch.no_grad():
            return {"d_loss": self.discriminator_loss(batch.images, self.generate(
                self.noise(batch.images.size(0), self.hp.latent_dim), None), None)[0]}


class UnsavedState(Toy):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.temperature = 1.0

    def train_step(self, batch, step):
        self.temperature *= 2
        return super().train_step(batch, step)

    def generate(self, z, labels):
        return super().generate(z * self.temperature, labels)


class ConstantSamples(Toy):
    def generate(self, z, labels):
        return super().generate(torch.zeros_like(z), labels)


class OnlyMnist(Toy):
    def __init__(self, hparams=None, image_shape=(1, 28, 28), num_classes=10):
        if tuple(image_shape) != (1, 28, 28):
            raise ValueError("only 28x28 images")
        super().__init__(hparams, image_shape, num_classes)


class StaysInEvalMode(Toy):
    def sample(self, n, labels=None, *, generator=None):
        self.eval()
        with torch.no_grad():
            return self.generate(self.noise(n, self.hp.latent_dim, generator), None)


class WithGradient(Toy):
    def sample(self, n, labels=None, *, generator=None):
        return self.generate(self.noise(n, self.hp.latent_dim, generator), None)


class BadName(Toy):
    name = "Toy Model"


class BadDefault(Toy):
    choices = {**Toy.choices, "hidden": ganzoo.Range(32, 64)}


@pytest.mark.parametrize("cls, check, fragment", [
    (NanLoss, "train_step", "returned g_loss=nan (not finite)"),
    (WrongSampleShape, "sample", "returned shape (4, 1, 28, 27); expected (4, 1, 28, 28)"),
    (NotADict, "train_step", "returned a list; it must return a non-empty dict of named scalar losses"),
    (LabelsIgnored, "labels", "the generator ignores the labels"),
    (OutOfRange, "sample", "images must be in [-1, 1]"),
    (KeepsGraph, "train_step", "'penalty': a float32 tensor of shape () that still holds its autograd graph"),
    (IgnoresGenerator, "determinism", "draw all noise from `generator`"),
    (UntrainedD, "contract", "network(s) ['D'] have trainable parameters that no optimizer updates"),
    (NoUpdate, "train_step", "left the weights of ['G', 'D'] unchanged"),
    (UnsavedState, "save_restore", "a restored model samples differently"),
    (ConstantSamples, "sample", "the 4 samples are identical"),
    (OnlyMnist, "build", "raised ValueError: only 28x28 images"),
    (StaysInEvalMode, "sample", "left the model in eval mode"),
    (WithGradient, "sample", "generate under torch.no_grad()"),
    (BadName, "contract", "name='Toy Model' must be a lower-case name"),
    (BadDefault, "contract", "the default hidden=16 is not allowed by its own choices"),
])
def test_conformance_check_names_what_a_broken_model_gets_wrong(cls, check, fragment):
    with pytest.raises(ConformanceError) as err:
        check_model(cls, image_shapes=SHAPES)
    assert err.value.check == check
    assert fragment in str(err.value)
    assert str(err.value).startswith(f"model {cls.name!r}")
    assert isinstance(err.value, AssertionError)  # pytest shows it as a plain test failure


def test_the_toys_themselves_conform():
    for cls in (Toy, ConditionalToy):
        report = check_model(cls, image_shapes=SHAPES, hparams={"hidden": 8})
        assert ("labels" in report.passed[(1, 28, 28)]) == cls.conditional


def test_failure_names_the_image_shape():
    with pytest.raises(ConformanceError, match=r"model 'toy' at image shape \(3, 32, 32\) fails check 'build'"):
        check_model(OnlyMnist, image_shapes=[(1, 28, 28), (3, 32, 32)])


LOSS_DICTS = {
    "tensor": lambda: {"g_loss": torch.tensor(0.5)},
    "float and int": lambda: {"g_loss": 0.5, "steps": torch.tensor(3)},
    "one-element vector": lambda: {"g_loss": torch.ones(1)},
    "vector": lambda: {"g_loss": torch.ones(4)},
    "with its graph": lambda: {"g_loss": torch.ones((), requires_grad=True) * 2},
    "bool": lambda: {"g_loss": True},
    "text": lambda: {"g_loss": "low"},
    "number key": lambda: {1: 0.5},
    "empty": lambda: {},
    "list": lambda: [0.5],
}


@pytest.mark.parametrize("case", LOSS_DICTS)
def test_the_conformance_check_accepts_exactly_the_losses_the_harness_accepts(case):
    class Returns(Toy):
        def train_step(self, batch, step):
            super().train_step(batch, step)
            return LOSS_DICTS[case]()

    try:
        checked_losses(Returns(image_shape=(1, 8, 8)), LOSS_DICTS[case](), step=0)
        harness_accepts = True
    except PluginError:
        harness_accepts = False
    try:
        check_model(Returns, image_shapes=[(1, 8, 8)], skip=["sample", "determinism", "save_restore", "labels"])
        conforms = True
    except ConformanceError as err:
        assert err.check == "train_step"
        conforms = False
    assert conforms == harness_accepts
    assert harness_accepts == (case in ("tensor", "float and int", "one-element vector"))


def test_options_exempt_what_a_model_does_on_purpose():
    check_model(UntrainedD, image_shapes=[(1, 8, 8)], untrained=["D"])
    report = check_model(LabelsIgnored, image_shapes=[(1, 8, 8)], skip=["labels"])
    assert "labels" not in report.passed[(1, 8, 8)]


def test_check_model_rejects_bad_arguments():
    with pytest.raises(UnknownNameError, match="ganzoo list"):
        check_model("no-such-model")
    with pytest.raises(TypeError, match="GenerativeModel subclass"):
        check_model(nn.Linear)
    with pytest.raises(ValueError, match="unknown check"):
        check_model(Toy, skip=["speed"])
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        check_model(Toy, image_shapes=[(28, 28)])
    with pytest.raises(ganzoo.ConfigError, match=r"models.toy.hiden: unknown key 'hiden'. Did you mean 'hidden'"):
        check_model(Toy, hparams={"hiden": 3})
    with pytest.raises(ganzoo.ConfigError, match=r"models.toy.hidden: must be an integer"):
        check_model(Toy, hparams={"hidden": 2.5})


def test_tiny_batch_is_seeded_and_in_range():
    a, b = tiny_batch((3, 8, 8), 5, num_classes=3, seed=1), tiny_batch((3, 8, 8), 5, num_classes=3, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.images.shape == (5, 3, 8, 8) and a.images.min() >= -1 and a.images.max() <= 1
    assert a.labels.max() < 3


# -- ganzoo new-plugin -----------------------------------------------------------------------------------------
def _import_path(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_new_plugin_package_installs_is_listed_and_conforms(tmp_path, capsys, on_path):
    assert main(["new-plugin", "my-gan", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    root = tmp_path / "ganzoo-my-gan"
    assert f"pip install -e {root}" in out
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "ganzoo-my-gan"
    assert project["entry-points"]["ganzoo"] == {"my-gan": "ganzoo_my_gan"}

    site = tmp_path / "site"
    install_package(root, site, tmp_path / "build")
    on_path(site)
    row = listed(capsys)["my-gan"]
    assert (row["distribution"], row["version"], row["plugin"]) == ("ganzoo-my-gan", "0.1.0", "my-gan")
    assert registry.host().failures() == []
    check_model("my-gan", image_shapes=SHAPES, hparams={"hidden": 16, "latent_dim": 8})

    generated = _import_path(root / "tests" / "test_my_gan.py", "generated_test_my_gan")
    tests = [f for n, f in inspect.getmembers(generated, inspect.isfunction) if n.startswith("test_")]
    assert len(tests) == 2
    for test in tests:
        test()
    assert main(["info", "my-gan", "--set", "my-gan.hidden=8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hparams"]["hidden"] == 8


def test_new_plugin_refuses_to_overwrite(tmp_path, capsys):
    root = tmp_path / "ganzoo-mine"
    root.mkdir()
    (root / "model.py").write_text("# mine\n")
    assert main(["new-plugin", "mine", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "never overwrites" in err
    assert [p.name for p in root.iterdir()] == ["model.py"]
    assert (root / "model.py").read_text() == "# mine\n"


@pytest.mark.parametrize("name, expected", [
    ("MyGan", "lower-case letters and digits"),
    ("1gan", "starting with a letter"),
    ("my gan", "lower-case letters and digits"),
    ("x-", "lower-case letters and digits"),
    ("my--gan", "lower-case letters and digits"),
    ("../evil", "lower-case letters and digits"),
    ("a" * 41, "at most 40 characters"),
    ("gan", "already taken by plugin 'gan' (distribution 'ganzoo')"),
])
def test_new_plugin_validates_the_name(tmp_path, capsys, name, expected):
    assert main(["new-plugin", name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_into_a_file_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["new-plugin", "fine", "--dir", str(blocker)]) == 2
    assert "cannot write" in capsys.readouterr().err


# -- the example package ---------------------------------------------------------------------------------------
PUBLIC = {"ganzoo": {"hookimpl", "Range", "GenerativeModel", "Batch", "ConfigError"},
          "ganzoo.adversarial": {"AdversarialModel"},
          "ganzoo.nn": {"ConvDecoder", "ConvEncoder", "init_dcgan_weights"},
          "ganzoo.losses": {"AdversarialLoss", "loss_class"},
          "ganzoo.testing": {"check_model", "tiny_batch"}}


def test_example_uses_only_the_public_api():
    sources = sorted(EXAMPLE.rglob("*.py"))
    assert sources
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ganzoo"):
                if node.module.startswith("ganzoo_lsgan"):
                    continue
                assert node.module in PUBLIC, f"{path}: imports {node.module}"
                assert {a.name for a in node.names} <= PUBLIC[node.module], f"{path}: {ast.dump(node)}"
            elif isinstance(node, ast.Import):
                assert all(a.name in {"ganzoo", "math", "torch", "pytest"} or not a.name.startswith("ganzoo")
                           for a in node.names), f"{path}: {ast.dump(node)}"
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ganzoo":
                assert not node.attr.startswith("_") and node.attr not in {"registry", "config"}, f"{path}"


def test_example_is_listed_from_its_distribution(lsgan, capsys):
    row = listed(capsys)["lsgan"]
    assert (row["distribution"], row["version"], row["family"]) == ("ganzoo-lsgan", "0.1.0", "gan")
    assert "least-squares" in row["description"]
    assert ganzoo.model_class("lsgan").__module__ == "ganzoo_lsgan.model"
    assert main(["plugins", "--json"]) == 0
    (plugin,) = [p for p in json.loads(capsys.readouterr().out) if p["name"] == "lsgan"]
    assert plugin["hooks"] == ["register_losses", "register_models"] and plugin["errors"] == []
    check_model("lsgan", image_shapes=[(1, 16, 16)], hparams=TINY_LSGAN)  # its own tests check more shapes


def test_ganzoo_train_runs_the_example(lsgan, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "lsgan", "--steps", "2", "--batch-size", "8", "--out", str(run), "--quiet",
                 "--device", "cpu", *TINY_LSGAN_SET]) == 0
    assert list((run / "checkpoints").glob("*.pt"))
    lines = (run / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    assert last["step"] == 2 and {"d_loss", "g_loss"} <= set(last["losses"])


def test_ganzoo_bench_runs_the_example(lsgan, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "lsgan", "--steps", "2", "--n-eval", "128", "--eval-every", "0", "--out", str(out),
                 "--quiet", "--device", "cpu", "--json", "--set", "metrics.kid_subsets=2", "--set", "metrics.is_splits=2",
                 *TINY_LSGAN_SET]) == 0
    results = json.loads((out / "results.json").read_text())
    (model,) = results["models"]
    assert model["model"] == "lsgan" and model["steps"] == 2 and model["fid"] is not None


def test_example_own_test_suite_passes(lsgan_install):
    site, copy = lsgan_install
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(copy / "tests")],
                          cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


# -- the tutorial keeps up with the hooks ----------------------------------------------------------------------
def test_every_hook_and_parameter_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    specs = [f for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(f, f"{hookspecs.PROJECT}_spec")]
    assert {f.__name__ for f in specs} == set(registry.KINDS.values())
    for spec in specs:
        assert f"{spec.__name__}(" in text, spec.__name__
        for param in inspect.signature(spec).parameters:
            assert param in text, (spec.__name__, param)


def test_tutorial_names_the_pieces_a_plugin_author_needs():
    text = DOCS.read_text(encoding="utf-8")
    for needle in ("[project.entry-points.ganzoo]", "@ganzoo.hookimpl", "AdversarialModel", "GenerativeModel",
                   "train_step", "sample", "check_model", "ganzoo new-plugin", "GANZOO_DISABLE_PLUGINS",
                   "ganzoo plugins", "examples/ganzoo-lsgan", "python -m build", "twine upload"):
        assert needle in text, needle


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _blocks(text: str, language: str) -> list[str]:
    parts = text.split(f"```{language}\n")[1:]
    return [part.split("```", 1)[0] for part in parts]


def test_the_tutorial_minimal_plugin_works_as_written(tmp_path, capsys, on_path):
    text = DOCS.read_text(encoding="utf-8")
    tomllib = pytest.importorskip("tomllib")
    (toml,) = _blocks(_section(text, "The entry point"), "toml")
    project = tomllib.loads(toml)["project"]
    model, init = _blocks(_section(text, "A complete minimal plugin"), "python")
    (module,) = set(project["entry-points"]["ganzoo"].values())
    make_distribution(tmp_path, project["name"], "0.1.0", project["entry-points"]["ganzoo"],
                      {f"{module}/model.py": model, f"{module}/__init__.py": init})
    on_path(tmp_path)
    assert listed(capsys)["mygan"]["distribution"] == "ganzoo-mygan"
    check_model("mygan", image_shapes=SHAPES, hparams={"hidden": 16, "latent_dim": 8})
    assert ganzoo.create_model("mygan", image_shape=(3, 32, 32), hidden=64).sample(2).shape == (2, 3, 32, 32)


def _run_block(source: str, name: str) -> types.ModuleType:
    """Execute a docs code block as the module ``name``."""
    module = types.ModuleType(name)
    exec(compile(source, f"<docs/plugins.md: {name}>", "exec"), module.__dict__)
    return module


def test_the_tutorial_loss_registers_and_trains_as_written():
    (block,) = _blocks(_section(DOCS.read_text(encoding="utf-8"), "Registering a loss"), "python")
    module = _run_block(block, "docs_margin_hinge")
    host = registry.host()
    host.register_plugin(module, name="docs-margin-hinge")
    try:
        assert host.plugins["docs-margin-hinge"].hooks == ["register_losses"]
        model = ganzoo.create_model("dcgan", loss="margin-hinge", g_channels=4, d_channels=4, latent_dim=8)
        assert isinstance(model.gan_loss, module.MarginHingeLoss) and model.gan_loss.hp.margin == 1.0
        out = model.train_step(tiny_batch((1, 28, 28)), step=0)
        assert {"d_loss", "g_loss"} <= set(out)
        with pytest.raises(ganzoo.ConfigError, match="Did you mean 'margin-hinge'"):
            ganzoo.create_model("dcgan", loss="margn-hinge")
        assert host.failures() == []
    finally:
        host.unregister_plugin("docs-margin-hinge")


def test_the_tutorial_nn_model_works_as_written():
    (block,) = _blocks(_section(DOCS.read_text(encoding="utf-8"), "Building blocks: `ganzoo.nn`"), "python")
    module = _run_block(block, "docs_sngan")
    check_model(module.SNGAN, image_shapes=SHAPES, hparams={"width": 4, "latent_dim": 8}, train_steps=1)
    model = module.SNGAN({"width": 4, "latent_dim": 8})
    assert all(torch.nn.utils.parametrize.is_parametrized(m, "weight")
               for m in model.D.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_the_docs_give_every_shared_loss_its_formula():
    text = _section(DOCS.read_text(encoding="utf-8"), "The shared losses")
    for needle in ("**`bce`**", "**`wgan-gp`**", "**`hinge`**", "λ = 10", "1 − s", "‖∇ₓ̂ D(x̂)‖₂ − 1",
                   "max(0, 1 − D(x))", "−E[D(G(z))]"):
        assert needle in text, needle
    assert "must run before `spectral_norm`" in DOCS.read_text(encoding="utf-8")
