"""The plugin registry as users meet it: built-ins, discovery through real entry points, broken plugins, blocking."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

import ganzoo
from ganzoo import registry
from ganzoo.cli import main
from ganzoo.errors import PluginError, UnknownNameError
from ganzoo.testing import make_distribution

BUILTIN_MODELS = {"gan", "cgan", "acgan", "dcgan", "vae", "stylegan", "cyclegan"}

# A small third-party model module; {name} is the model's registry name.
TOY = '''
import math

from torch import nn

import ganzoo
from ganzoo.adversarial import AdversarialModel


class Toy(AdversarialModel):
    """A toy MLP GAN made by a test."""

    name = "{name}"
    defaults = {{**AdversarialModel.defaults, "latent_dim": 8, "hidden": 16}}

    def __init__(self, hparams=None, image_shape=(1, 28, 28), num_classes=10):
        super().__init__(hparams, image_shape, num_classes)
        pixels = math.prod(self.image_shape)
        self.G = nn.Sequential(nn.Linear(self.hp.latent_dim, self.hp.hidden), nn.ReLU(),
                               nn.Linear(self.hp.hidden, pixels), nn.Tanh())
        self.D = nn.Sequential(nn.Linear(pixels, self.hp.hidden), nn.LeakyReLU(0.2), nn.Linear(self.hp.hidden, 1))
        self.build_optimizers()

    def generate(self, z, labels):
        return self.G(z).view(-1, *self.image_shape)

    def discriminate(self, images, labels):
        return self.D(images.flatten(1)).squeeze(1)
'''

REGISTER = '''

@ganzoo.hookimpl
def register_models(register):
    register(Toy)
'''


def toy_module(name: str, hook: str = REGISTER) -> str:
    """Source of a plugin module providing the toy model called ``name`` (``hook`` is the hook's source)."""
    return TOY.format(name=name) + textwrap.dedent(hook)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A folder on sys.path for fake installed distributions; the registry is rediscovered around the test."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv(registry.DISABLE_ENV, raising=False)
    registry.reset()
    yield root
    for name, module in list(sys.modules.items()):  # forget the test's plugin modules
        if str(getattr(module, "__file__", "") or "").startswith(str(root)):
            del sys.modules[name]
    registry.reset()


def install(site: Path, dist: str, modules: dict[str, str], version: str = "1.0") -> None:
    """Install a fake distribution ``dist`` whose entry points are the ``modules`` (entry-point name -> source)."""
    files = {f"{mod}.py": src for mod, src in modules.items()}
    make_distribution(site, dist, version, {mod.removeprefix("ganzoo_"): mod for mod in modules}, files)
    registry.reset()


def cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """Run ``ganzoo ARGV`` in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def listed(capsys: pytest.CaptureFixture) -> dict[str, dict]:
    """``ganzoo list --json`` by model name (asserting it succeeds)."""
    code, out, _ = cli(capsys, "list", "--json")
    assert code == 0
    return {row["name"]: row for row in json.loads(out)}


def plugins(capsys: pytest.CaptureFixture) -> dict[str, dict]:
    """``ganzoo plugins --json`` by plugin name."""
    code, out, _ = cli(capsys, "plugins", "--json")
    assert code == 0
    return {row["name"]: row for row in json.loads(out)}


# -- the built-ins ---------------------------------------------------------------------------------------------
def test_builtin_models_come_from_the_ganzoo_distribution(capsys):
    rows = listed(capsys)
    assert BUILTIN_MODELS <= set(rows)
    for name in BUILTIN_MODELS:
        assert rows[name]["distribution"] == "ganzoo"
        assert rows[name]["version"] == ganzoo.__version__
        assert rows[name]["plugin"] == name
    gan = rows["gan"]
    assert (gan["family"], gan["conditional"]) == ("gan", False)
    assert "Goodfellow" in gan["description"]
    assert ganzoo.model_class("gan").name == "gan"


def test_builtins_are_entry_point_plugins_that_load_cleanly(capsys):
    rows = plugins(capsys)
    ours = {name for name, row in rows.items() if row["distribution"] == "ganzoo"}
    assert ours == BUILTIN_MODELS | {"datasets", "evaluators", "losses", "loggers", "regularizers"}
    for name in BUILTIN_MODELS:
        assert rows[name]["hooks"] == ["register_models"], name
        assert rows[name]["errors"] == [] and not rows[name]["blocked"]
        assert rows[name]["module"] == f"ganzoo_builtin.{name}"


def test_list_table_shows_every_model_and_no_warning(capsys):
    code, out, err = cli(capsys, "list")
    assert code == 0
    for name in BUILTIN_MODELS:
        assert f" {name} " in out
    assert "warning" not in err


@pytest.mark.parametrize("pattern, expected", [
    ("*gan", {"gan", "cgan", "acgan", "dcgan"}),
    ("*GAN", {"gan", "cgan", "acgan", "dcgan"}),
    ("v*", {"vae"}),
    ("?cgan", {"acgan"}),
    ("nothing*", set()),
])
def test_list_models_filters_with_fnmatch(pattern, expected):
    found = set(ganzoo.list_models(pattern))
    assert expected <= found
    assert all(name.endswith("gan") for name in ganzoo.list_models("*gan"))
    assert "vae" not in ganzoo.list_models("*gan")
    if not expected:
        assert found == set()


def test_list_pattern_on_the_command_line(capsys):
    code, out, _ = cli(capsys, "list", "v*", "--json")
    assert code == 0
    assert [row["name"] for row in json.loads(out)] == ["vae"]


def test_list_models_sorts_naturally(site):
    mods = {f"ganzoo_m{i}": toy_module(f"m{i}") for i in (10, 2, 1)}
    install(site, "ganzoo-many", mods)
    assert ganzoo.list_models("m*") == ["m1", "m2", "m10"]


# -- unknown names ---------------------------------------------------------------------------------------------
def test_unknown_model_suggests_close_names_and_ganzoo_list():
    with pytest.raises(UnknownNameError) as err:
        ganzoo.create_model("dcgn")
    message = str(err.value)
    assert "Unknown model 'dcgn'" in message
    assert "'dcgan'" in message
    assert "ganzoo list" in message
    assert isinstance(err.value, KeyError)  # code that catches KeyError keeps working


def test_unknown_model_without_close_names_still_points_to_ganzoo_list():
    with pytest.raises(UnknownNameError, match="Run 'ganzoo list'") as err:
        ganzoo.model_class("zzzzzzzz")
    assert "Did you mean" not in str(err.value)


def test_model_names_are_case_insensitive():
    assert ganzoo.model_class("GAN") is ganzoo.model_class("gan")


def test_cli_unknown_model_exits_non_zero_without_traceback(capsys):
    code, out, err = cli(capsys, "info", "dcgn")
    assert code != 0
    assert "Unknown model 'dcgn'" in err and "'dcgan'" in err and "ganzoo list" in err
    assert "Traceback" not in err + out


# -- discovery through real entry points -----------------------------------------------------------------------
def test_third_party_distribution_is_discovered(site, capsys):
    install(site, "ganzoo-toy", {"ganzoo_toy": toy_module("toy")}, version="2.3")
    rows = listed(capsys)
    assert rows["toy"]["distribution"] == "ganzoo-toy"
    assert rows["toy"]["version"] == "2.3"
    assert rows["toy"]["plugin"] == "toy"
    assert rows["toy"]["description"] == "A toy MLP GAN made by a test."
    assert BUILTIN_MODELS <= set(rows)
    code, out, err = cli(capsys, "list")
    assert code == 0 and " toy " in out and "ganzoo-toy 2.3" in out and "warning" not in err
    info = plugins(capsys)["toy"]
    assert info["distribution"] == "ganzoo-toy" and info["hooks"] == ["register_models"] and info["errors"] == []
    model = ganzoo.create_model("toy", image_shape=(1, 8, 8), hidden=4)
    assert model.sample(2).shape == (2, 1, 8, 8)


def test_plugins_load_lazily_and_once(site):
    counter = site / "imports.txt"
    src = f"open({str(counter)!r}, 'a').write('x')\n" + toy_module("once")
    install(site, "ganzoo-once", {"ganzoo_once": src})
    assert not counter.exists()  # nothing is imported before the first query
    for _ in range(3):
        assert "once" in ganzoo.list_models()
    ganzoo.create_model("once")
    assert counter.read_text() == "x"


BROKEN = {
    "import error": ("import no_such_module_anywhere\n" + toy_module("victim"),
                     "failed to import 'ganzoo_broken': ModuleNotFoundError"),
    "exit on import": ("raise SystemExit(3)\n", "failed to import 'ganzoo_broken': SystemExit"),
    "syntax error": ("def oops(:\n", "failed to import 'ganzoo_broken': SyntaxError"),
    "exception in hook": (toy_module("victim", '''
        @ganzoo.hookimpl
        def register_models(register):
            raise RuntimeError("the hook blew up")
        '''), "register_models raised RuntimeError: the hook blew up"),
    "builtin name taken": (toy_module("gan"), "model 'gan' is already registered by plugin 'gan' "
                                              "(distribution 'ganzoo')"),
    "misspelt hook": (toy_module("victim", '''
        @ganzoo.hookimpl
        def register_model(register):
            register(Toy)
        '''), "implements unknown hook 'register_model'. Did you mean 'register_models'?"),
    "hook not marked": (toy_module("victim", '''
        def register_models(register):
            register(Toy)
        '''), "defines register_models() but does not mark it with @ganzoo.hookimpl"),
    "wrong hook argument": (toy_module("victim", '''
        @ganzoo.hookimpl
        def register_models(reg):
            reg(Toy)
        '''), "cannot register 'ganzoo_broken'"),
    "registers a non-model": (toy_module("victim", '''
        @ganzoo.hookimpl
        def register_models(register):
            register(object)
        '''), "register() expects a ganzoo.GenerativeModel subclass, got <class 'object'>"),
    "invalid model name": (toy_module("Bad Name"), "model name 'Bad Name' is invalid"),
    "no hook at all": ("VALUE = 1\n", "implements no ganzoo hook"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_plugin_is_reported_and_the_rest_keeps_working(site, capsys, case):
    source, expected = BROKEN[case]
    install(site, "ganzoo-good", {"ganzoo_good": toy_module("good")})
    install(site, "ganzoo-broken", {"ganzoo_broken": source}, version="0.9")

    info = plugins(capsys)["broken"]
    assert info["distribution"] == "ganzoo-broken" and info["version"] == "0.9"
    assert any(expected in e for e in info["errors"]), info["errors"]

    code, out, err = cli(capsys, "list")
    assert code == 0
    assert "warning" in err and "'broken' (ganzoo-broken 0.9)" in err and "ganzoo plugins" in err
    assert " good " in out
    rows = listed(capsys)
    assert BUILTIN_MODELS | {"good"} <= set(rows)
    assert rows["gan"]["distribution"] == "ganzoo"
    assert "victim" not in rows
    assert ganzoo.create_model("good").sample(1).shape == (1, 1, 28, 28)
    assert ganzoo.create_model("gan").sample(1).shape == (1, 1, 28, 28)

    code, out, _ = cli(capsys, "plugins")
    assert code == 0 and "broken" in out and "ganzoo-broken" in out


def test_registrations_before_an_error_in_the_hook_are_kept(site):
    install(site, "ganzoo-half", {"ganzoo_half": toy_module("half", '''
        @ganzoo.hookimpl
        def register_models(register):
            register(Toy)
            register(42)
            raise ValueError("late failure")
        ''')})
    assert "half" in ganzoo.list_models()
    (failed,) = registry.host().failures()
    assert failed.dist == "ganzoo-half"
    assert any("register() expects" in e for e in failed.errors)
    assert any("late failure" in e and "ganzoo_half.py" in e for e in failed.errors)


def test_duplicate_name_between_two_third_parties_keeps_the_first_and_names_both(site, capsys):
    install(site, "ganzoo-aaa", {"ganzoo_aaa": toy_module("twin")})
    install(site, "ganzoo-bbb", {"ganzoo_bbb": toy_module("twin")})
    rows = listed(capsys)
    assert rows["twin"]["distribution"] == "ganzoo-aaa"
    errors = plugins(capsys)["bbb"]["errors"]
    assert any("model 'twin' is already registered by plugin 'aaa' (distribution 'ganzoo-aaa')" in e
               for e in errors), errors


def test_duplicate_entry_point_name_is_reported(site, capsys):
    make_distribution(site, "ganzoo-clash", "1.0", {"gan": "ganzoo_clash"},
                      {"ganzoo_clash.py": toy_module("clash")})
    registry.reset()
    code, out, _ = cli(capsys, "plugins", "--json")
    rows = {row["distribution"]: row for row in json.loads(out) if row["name"] == "gan"}
    assert code == 0 and set(rows) == {"ganzoo", "ganzoo-clash"}
    assert rows["ganzoo"]["errors"] == []
    assert any("plugin name 'gan' is already used by distribution 'ganzoo'" in e
               for e in rows["ganzoo-clash"]["errors"])
    assert listed(capsys)["gan"]["distribution"] == "ganzoo"
    assert "clash" not in ganzoo.list_models()


def test_failures_reach_library_users_as_warnings(site):
    install(site, "ganzoo-broken", {"ganzoo_broken": "raise ImportError('missing dependency')\n"})
    with pytest.warns(UserWarning, match=r"ganzoo plugin 'broken' \(ganzoo-broken 1.0\).*missing dependency"):
        registry.warn_failures()


def test_unknown_name_points_to_plugin_failures(site):
    install(site, "ganzoo-broken", {"ganzoo_broken": "import no_such_module_anywhere\n"})
    with pytest.raises(UnknownNameError, match="Some plugins failed to load: run 'ganzoo plugins'"):
        ganzoo.create_model("broken")


# -- blocking --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("blocked", ["toy", "ganzoo-toy", "Ganzoo_Toy", "other, toy"])
def test_disable_env_blocks_a_plugin_by_name_or_distribution(site, capsys, monkeypatch, blocked):
    install(site, "ganzoo-toy", {"ganzoo_toy": toy_module("toy")})
    monkeypatch.setenv(registry.DISABLE_ENV, blocked)
    registry.reset()
    assert "toy" not in ganzoo.list_models()
    assert BUILTIN_MODELS <= set(ganzoo.list_models())
    info = plugins(capsys)["toy"]
    assert info["blocked"] and info["errors"] == []
    code, _, err = cli(capsys, "list")
    assert code == 0 and "warning" not in err


def test_disable_env_blocks_a_builtin_and_the_blocked_module_is_not_imported(site, monkeypatch):
    counter = site / "imports.txt"
    install(site, "ganzoo-toy", {"ganzoo_toy": f"open({str(counter)!r}, 'a').write('x')\n" + toy_module("toy")})
    monkeypatch.setenv(registry.DISABLE_ENV, "dcgan,toy")
    registry.reset()
    assert "dcgan" not in ganzoo.list_models()
    assert "gan" in ganzoo.list_models()
    assert not counter.exists()
    with pytest.raises(UnknownNameError):
        ganzoo.create_model("dcgan")


# -- in-process plugins ----------------------------------------------------------------------------------------
class InProcess:
    """A plugin object registered without installing anything."""

    def __init__(self, model_class):
        self.model_class = model_class

    @ganzoo.hookimpl
    def register_models(self, register):
        register(self.model_class)


def _toy_class(name: str) -> type:
    namespace: dict = {}
    exec(compile(toy_module(name), f"<toy {name}>", "exec"), namespace)
    return namespace["Toy"]


def test_register_and_unregister_a_plugin_in_process(site):
    host = registry.host()
    host.register_plugin(InProcess(_toy_class("inproc")), name="inproc-plugin")
    try:
        assert "inproc" in ganzoo.list_models()
        entry = host.get("models", "inproc")
        assert (entry.plugin, entry.dist) == ("inproc-plugin", "(in-process)")
        with pytest.raises(PluginError, match="already registered"):
            host.register_plugin(InProcess(_toy_class("other")), name="inproc-plugin")
    finally:
        host.unregister_plugin("inproc-plugin")
    assert "inproc" not in ganzoo.list_models()
    assert BUILTIN_MODELS <= set(ganzoo.list_models())


def test_in_process_plugin_cannot_take_a_builtin_name(site):
    host = registry.host()
    host.register_plugin(InProcess(_toy_class("gan")), name="thief")
    try:
        assert ganzoo.model_class("gan").__module__ == "ganzoo_builtin.gan"
        (failed,) = host.failures()
        assert failed.name == "thief" and "already registered by plugin 'gan'" in failed.errors[0]
    finally:
        host.unregister_plugin("thief")
    assert host.failures() == []


def test_info_reports_a_model_that_cannot_be_built_without_traceback(site, capsys):
    fragile = _toy_class("fragile")
    original_init = fragile.__init__

    def init(self, hparams=None, image_shape=(1, 28, 28), num_classes=10):
        if image_shape[1] % 8:
            raise ValueError("the image height must be a multiple of 8")
        original_init(self, hparams, image_shape, num_classes)

    fragile.__init__ = init
    host = registry.host()
    host.register_plugin(InProcess(fragile), name="fragile-plugin")
    try:
        assert main(["info", "fragile", "--image-shape", "1,28,28"]) == 2
        err = capsys.readouterr().err
        assert "fragile (plugin 'fragile-plugin', distribution '(in-process)') cannot be built for images 1×28×28" in err
        assert "the image height must be a multiple of 8" in err and "Traceback" not in err
        assert main(["info", "fragile", "--image-shape", "1,32,32", "--json"]) == 0
    finally:
        host.unregister_plugin("fragile-plugin")


# -- a model whose own defaults or choices are wrong: the plugin's fault, reported, the rest unharmed --------------
class Pair:
    """A plugin object registering two models: a good one and one that may be broken."""

    def __init__(self, *classes):
        self.classes = classes

    @ganzoo.hookimpl
    def register_models(self, register):
        for cls in self.classes:
            register(cls)


def _nan() -> float:
    return float("nan")


BAD_DEFAULTS = {  # case -> (class attributes to change, what the report says)
    "an object": ({"defaults": {"hidden": object()}}, "defaults['hidden'] is an object"),
    "a tuple": ({"defaults": {"hidden": (16, 16)}}, "defaults['hidden'] is a tuple (16, 16); use a list"),
    "a list of lists": ({"defaults": {"hidden": [[16]]}}, "defaults['hidden'] is a list holding a list"),
    "a dict where a number is expected": ({"defaults": {"lr_g": {"a": 1}}},
                                          "the default lr_g={'a': 1} is not allowed by its own choices"),
    "a default its choice refuses": ({"defaults": {"latent_dim": 0}},
                                     "the default latent_dim=0 is not allowed by its own choices"),
    "NaN": ({"defaults": {"lr_g": _nan()}}, "defaults['lr_g'] is NaN"),
    "a choice without a default": ({"choices": {"depth": (1, 2)}}, "choices['depth'] names no hyperparameter"),
    "defaults not a mapping": ({"defaults": [("hidden", 16)]}, "defaults must be a dict"),
    "a choice that is no set of values": ({"choices": {"hidden": 16}}, "choices['hidden'] must be"),
}


@pytest.mark.parametrize("case", list(BAD_DEFAULTS))
def test_a_model_with_bad_defaults_is_the_plugins_fault_and_the_rest_keeps_working(site, capsys, tmp_path, case):
    change, expected = BAD_DEFAULTS[case]
    bad = _toy_class("bad")
    for attr, value in change.items():
        base = getattr(bad, attr)
        setattr(bad, attr, {**base, **value} if isinstance(value, dict) else value)
    host = registry.host()
    host.register_plugin(Pair(_toy_class("fine"), bad), name="bad-plugin")
    try:
        code, out, err = cli(capsys, "list")
        err = " ".join(err.split())
        assert code == 0 and " fine " in out and " gan " in out and " bad " not in out
        assert "plugin 'bad-plugin'" in err and expected in err, err
        errors = plugins(capsys)["bad-plugin"]["errors"]
        assert any(expected in e and "model 'bad'" in e for e in errors), errors
        for argv in (["info", "bad"], ["train", "bad", "--steps", "1", "--out", str(tmp_path / "run"), "--quiet",
                                       "--device", "cpu"]):
            code, _, err = cli(capsys, *argv)
            one_line = " ".join(err.split())
            assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
            assert "model 'bad' of plugin 'bad-plugin'" in one_line and expected in one_line, one_line
            assert "report it to its authors" in one_line
        assert not (tmp_path / "run").exists()
        for name in ("fine", "gan"):
            assert cli(capsys, "info", name, "--json")[0] == 0
    finally:
        host.unregister_plugin("bad-plugin")


def test_constructors_users_call_say_what_they_take():
    import inspect

    from ganzoo.model import GenerativeModel

    doc = inspect.getdoc(GenerativeModel.__init__)
    assert "hparams" in doc and "image_shape" in doc and "num_classes" in doc and "Module state" not in doc
    for cls in (registry.PluginHost, registry.Registered):
        doc = inspect.getdoc(cls.__init__) or ""
        assert "Initialize self" not in doc and len(doc) > 20, cls
    guide = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    section = guide.split("## The model constructor", 1)[1].split("\n## ", 1)[0]
    assert all(word in section for word in ("hparams", "image_shape", "num_classes", "super().__init__"))
