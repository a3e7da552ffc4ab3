"""zoo.yaml validation and ``--set`` overrides: every mistake is a ConfigError naming the file, key and fix."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ganzoo
from ganzoo.cli import main
from ganzoo.config import MAX_NODES, Zoo, default_zoo_path, load_zoo, parse_set
from ganzoo.errors import ConfigError, GanzooError


def write(tmp_path: Path, text: str, name: str = "zoo.yaml") -> Path:
    """A zoo file with ``text`` in ``tmp_path``."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    """The message of the ConfigError that loading ``text`` raises (it must mention the file)."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_zoo(path)
    message = str(err.value)
    assert str(path) in message
    return message


# -- the shipped file ------------------------------------------------------------------------------------------
def test_shipped_zoo_yaml_validates():
    zoo = load_zoo()
    assert Path(zoo.source) == default_zoo_path()
    assert zoo.section("train")["steps"] >= 1
    for name in ganzoo.list_models():
        hp = zoo.model_hparams(name)
        assert set(hp) == set(ganzoo.model_class(name).defaults)


def test_shipped_zoo_yaml_only_names_known_sections_and_models():
    data = yaml.safe_load(default_zoo_path().read_text(encoding="utf-8"))
    assert set(data.get("models") or {}) <= set(ganzoo.list_models())


def test_env_variable_selects_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CONFIG", str(write(tmp_path, "train:\n  steps: 7\n")))
    assert load_zoo().section("train")["steps"] == 7


def test_a_missing_env_config_names_the_variable_not_the_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match=r"nope.yaml: config file not found; pass an existing file to \$GANZOO_CONFIG"):
        load_zoo()


def test_a_config_file_is_merged_over_the_zoos_own_settings(tmp_path):
    """Every command reads --config the same way: a partial file changes only what it names."""
    zoo = load_zoo(write(tmp_path, "datasets:\n  imagefolder:\n    evaluator: pixels\n"
                                   "models:\n  dcgan:\n    lr_d: 1.0e-3\n"
                                   "bench:\n  suites:\n    mine:\n      models: [gan]\n      steps: 5\n"))
    own = load_zoo()
    assert zoo.model_hparams("dcgan") == {**own.model_hparams("dcgan"), "lr_d": 1e-3}
    assert zoo.section("datasets")["imagefolder"]["evaluator"] == "pixels"
    assert zoo.section("datasets")["mnist-embedded"] == own.section("datasets")["mnist-embedded"]
    assert set(zoo.section("bench")["suites"]) == {*own.section("bench")["suites"], "mine"}
    assert zoo.section("bench")["suites"]["default"] == own.section("bench")["suites"]["default"]
    assert zoo.section("train") == own.section("train")
    # a list replaces the zoo's (it is not appended to)
    zoo = load_zoo(write(tmp_path, "bench:\n  suites:\n    default:\n      models: [vae]\n"))
    assert zoo.section("bench")["suites"]["default"]["models"] == ["vae"]
    assert zoo.section("bench")["suites"]["default"]["steps"] == own.section("bench")["suites"]["default"]["steps"]


def test_empty_file_and_empty_sections_mean_the_zoos_own_settings(tmp_path):
    assert load_zoo(write(tmp_path, "")).section("train")["steps"] == 2000
    zoo = load_zoo(write(tmp_path, "train:\nmodels:\n  gan:\n"))
    assert zoo.model_hparams("gan") == load_zoo().model_hparams("gan") != ganzoo.model_class("gan").defaults


def test_model_settings_override_the_model_defaults(tmp_path):
    zoo = load_zoo(write(tmp_path, "models:\n  gan:\n    latent_dim: 12\n    lr_g: 1\n"))
    hp = zoo.model_hparams("gan")
    assert hp["latent_dim"] == 12
    assert hp["lr_g"] == 1.0 and isinstance(hp["lr_g"], float)


def test_exponent_numbers_without_a_dot_are_numbers(tmp_path):
    zoo = load_zoo(write(tmp_path, "models:\n  gan:\n    lr_g: 1e-4\n    lr_d: 3E-4\n"))
    assert zoo.model_hparams("gan")["lr_g"] == pytest.approx(1e-4)
    assert zoo.model_hparams("gan")["lr_d"] == pytest.approx(3e-4)


def test_settings_of_a_model_that_is_not_installed_are_kept(tmp_path):
    zoo = load_zoo(write(tmp_path, "models:\n  some-plugin-model:\n    width: 3\n"))
    assert zoo.data["models"]["some-plugin-model"] == {"width": 3}


# -- errors in files -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("trian:\n  steps: 1\n", ["trian", "unknown section", "Did you mean 'train'?", "Allowed: models, train"]),
    ("train:\n  stpes: 1\n", ["train.stpes", "unknown key", "Did you mean 'steps'?"]),
    ("train:\n  steps: ten\n", ["train.steps", "must be an integer", "'ten'"]),
    ("train:\n  steps: 0\n", ["train.steps", "0 is not allowed", "[1, inf]"]),
    ("train:\n  steps: 1.5\n", ["train.steps", "must be an integer"]),
    ("train:\n  steps: true\n", ["train.steps", "must be an integer"]),
    ("train:\n  steps: 1e30\n", ["train.steps", "must be an integer"]),
    ("train:\n  steps: 100000000000000000\n", ["train.steps", "out of range"]),
    ("train:\n  data_placement: gpu\n", ["train.data_placement", "'gpu' is not allowed", "'auto'"]),
    ("train: 5\n", ["train", "must be a mapping"]),
    ("models:\n  gan:\n    latnt_dim: 3\n", ["models.gan.latnt_dim", "unknown key", "Did you mean 'latent_dim'?"]),
    ("models:\n  gan:\n    latent_dim: 0\n", ["models.gan.latent_dim", "not allowed", "[1, 4096]"]),
    ("models:\n  gan:\n    lr_g: .nan\n", ["models.gan.lr_g", "NaN is not allowed"]),
    ("models:\n  gan:\n    lr_g: .inf\n", ["models.gan.lr_g"]),
    ("models:\n  gan:\n    loss: mse\n", ["models.gan.loss", "'mse' is not allowed", "'bce'", "'wgan-gp'"]),
    ("models:\n  gan:\n    g_widths: [64, x]\n", ["models.gan.g_widths[1]", "must be an integer", "'x'"]),
    ("models:\n  gan:\n    g_widths: 64\n", ["models.gan.g_widths", "must be a list"]),
    ("models:\n  gan: []\n", ["models.gan", "must be a mapping"]),
    ("models:\n  gan: 0\n", ["models.gan", "must be a mapping"]),
    ("models: [gan]\n", ["models", "must be a mapping"]),
    ("models:\n  not-installed: 3\n", ["models.not-installed", "must be a mapping"]),
    ("bench:\n  suites:\n    mine:\n      modles: [gan]\n", ["bench.suites.mine.modles", "Did you mean 'models'?"]),
    ("datasets:\n  mnist: 3\n", ["datasets.mnist", "must be a mapping"]),
    ("- train\n- models\n", ["top level must be a mapping"]),
    ("just a string\n", ["top level must be a mapping"]),
])
def test_bad_values_name_file_key_and_what_is_allowed(tmp_path, text, expected):
    message = config_error(tmp_path, text)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.mark.parametrize("text, expected", [
    ("train: !!python/object/apply:os.system ['echo hacked']\n", "no Python tags"),
    ("train: !!python/name:os.system\n", "no Python tags"),
    ("train: *undefined_anchor\n", "undefined alias"),
    ("train: {steps: 1\n", "line"),
    ("train:\n  steps: 1\n steps: 2\n", "line"),
    ("a: 1\n---\nb: 2\n", "single document"),
    ("train:\n  dataset: 2020-13-45\n", "month must be in 1..12"),
    pytest.param("train: " + "[" * 1100 + "]" * 1100 + "\n", "nested too deeply", id="deep-nesting"),
    ("train: &loop {dataset_options: *loop}\n", "refers to itself"),
    ("train: &loop [*loop]\n", "refers to itself"),
])
def test_yaml_that_safe_load_refuses_is_a_config_error(tmp_path, text, expected, capsys):
    marker = tmp_path / "hacked"
    message = config_error(tmp_path, text.replace("echo hacked", f"touch {marker}"))
    assert expected in message
    assert not marker.exists()
    code = main(["info", "gan", "--config", str(tmp_path / "zoo.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "Traceback" not in err


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "models:\n  not-installed:\n" + "\n".join("    " + line for line in lines) + "\n"
    message = config_error(tmp_path, text)
    assert f"more than {MAX_NODES:,} values" in message


def test_plain_anchors_and_merge_keys_are_fine(tmp_path):
    text = ("models:\n  gan: &small\n    latent_dim: 8\n    batch_size: 16\n"
            "  dcgan:\n    <<: *small\n    lr_g: 1e-4\n")
    zoo = load_zoo(write(tmp_path, text))
    assert zoo.model_hparams("dcgan")["latent_dim"] == 8
    assert zoo.model_hparams("dcgan")["lr_g"] == pytest.approx(1e-4)


def test_unreadable_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found; pass an existing file to --config"):
        load_zoo(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_zoo(tmp_path)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):  # never opened: reading a FIFO would hang
        load_zoo(fifo)
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * 2_000_000)
    with pytest.raises(ConfigError, match="over the limit of 1,000,000"):
        load_zoo(huge)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("train:\n  dataset: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_zoo(bad)


def test_create_model_validates_overrides():
    with pytest.raises(ConfigError, match=r"models.gan.latent_dim: must be an integer"):
        ganzoo.create_model("gan", latent_dim="big")
    with pytest.raises(ConfigError, match=r"models.gan.latnt_dim: unknown key 'latnt_dim'"):
        ganzoo.create_model("gan", latnt_dim=3)


# -- --set -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("item, keypath, value", [
    ("dcgan.lr_g=1e-4", ["dcgan", "lr_g"], 1e-4),
    ("models.gan.latent_dim=64", ["models", "gan", "latent_dim"], 64),
    ("train.steps=10", ["train", "steps"], 10),
    (" train.steps = 10 ", ["train", "steps"], 10),
    ("train.dataset=mnist", ["train", "dataset"], "mnist"),
    ("gan.g_widths=[64,128]", ["gan", "g_widths"], [64, 128]),
    ("gan.loss=wgan-gp", ["gan", "loss"], "wgan-gp"),
    ("gan.lr_g=2.5E-4", ["gan", "lr_g"], 2.5e-4),
    ("train.dataset=a=b", ["train", "dataset"], "a=b"),
    ("train.dataset=", ["train", "dataset"], ""),
    ("flag=true", ["flag"], True),
])
def test_parse_set(item, keypath, value):
    assert parse_set(item) == (keypath, value)


def test_parse_set_reads_yaml_nan_and_inf_as_numbers_and_plain_words_as_strings():
    assert math.isnan(parse_set("gan.lr_g=.nan")[1])
    assert parse_set("gan.lr_g=-.inf")[1] == -math.inf
    assert parse_set("train.dataset=nan")[1] == "nan"
    assert load_zoo().with_overrides(["train.dataset=inf"]).section("train")["dataset"] == "inf"


def test_set_overrides_apply_and_validate():
    zoo = load_zoo().with_overrides(["dcgan.lr_g=1e-4", "models.gan.latent_dim=64", "train.steps=10",
                                     "gan.g_widths=[32]"])
    assert zoo.model_hparams("dcgan")["lr_g"] == pytest.approx(1e-4)
    assert zoo.model_hparams("gan")["latent_dim"] == 64
    assert zoo.model_hparams("gan")["g_widths"] == [32]
    assert zoo.section("train")["steps"] == 10
    assert load_zoo().section("train")["steps"] != 10  # the original is untouched
    assert "--set" in zoo.source


@pytest.mark.parametrize("item, expected", [
    ("dcgan.lr_g", "expected KEY=VALUE, for example --set dcgan.lr=1e-4"),
    ("=3", "the key is empty"),
    ("dcgan..lr_g=1", "empty part"),
    ("dcgan.lr_g.=1", "empty part"),
    ("gan.lr_g={a: 1}", "the value must be a number, string, boolean or a list"),
    ("gan.g_widths=[[1]]", "the value must be a number, string, boolean or a list"),
    ("gan.lr_g=2020-01-01", "the value must be a number"),
])
def test_bad_set_forms(item, expected):
    with pytest.raises(ConfigError, match="--set") as err:
        load_zoo().with_overrides([item])
    assert expected in str(err.value)


@pytest.mark.parametrize("item, expected", [
    ("dcgn.lr_g=1", ["unknown section or model 'dcgn'", "Did you mean 'dcgan'?"]),
    ("dcgan.lr_gg=1", ["models.dcgan.lr_gg", "unknown key", "Did you mean 'lr_g'?"]),
    ("dcgan.lr_g=fast", ["models.dcgan.lr_g", "must be a number", "'fast'"]),
    ("dcgan.lr_g=.nan", ["models.dcgan.lr_g", "NaN is not allowed"]),
    ("dcgan.lr_g=nan", ["models.dcgan.lr_g", "must be a number, got 'nan' (a string)"]),
    ("dcgan.lr_g=.inf", ["models.dcgan.lr_g", "out of range"]),
    ("dcgan.lr_g=1e400", ["models.dcgan.lr_g", "out of range"]),
    ("train.steps=-1", ["train.steps", "not allowed"]),
    ("train.steps.x=1", ["train.steps is not a section"]),
    ("gan=3", ["models.gan", "must be a mapping"]),
    ("gan.g_widths=[8,x]", ["models.gan.g_widths[1]", "must be an integer"]),
])
def test_bad_set_values_name_the_key(item, expected):
    with pytest.raises(ConfigError) as err:
        load_zoo().with_overrides([item])
    for part in expected:
        assert part in str(err.value), f"{part!r} not in {err.value}"


def test_cli_reports_a_bad_set_without_traceback(capsys):
    assert main(["info", "gan", "--set", "gan.latent_dim=lots"]) == 2
    err = capsys.readouterr().err
    assert "models.gan.latent_dim" in err and "must be an integer" in err and "Traceback" not in err


def test_cli_applies_set_shorthand(capsys):
    assert main(["info", "gan", "--json", "--set", "gan.lr_g=1e-4", "--set", "gan.g_widths=[8]"]) == 0
    hparams = json.loads(capsys.readouterr().out)["hparams"]
    assert hparams["lr_g"] == pytest.approx(1e-4) and hparams["g_widths"] == [8]


# -- fuzzing ---------------------------------------------------------------------------------------------------
KEYS = st.one_of(st.sampled_from(["train", "models", "bench", "metrics", "datasets", "gan", "dcgan", "steps",
                                  "seed", "lr_g", "latent_dim", "suites", "default", "evaluator", "g_widths",
                                  "dataset_options", "n_eval"]),
                 st.text(max_size=8))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(KEYS, inner, max_size=4)), max_leaves=20)
DOCUMENTS = st.dictionaries(KEYS, VALUES, max_size=5)
YAML_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def _load_or_config_error(path: Path) -> None:
    try:
        zoo = load_zoo(path)
    except ConfigError as exc:
        assert str(exc) and str(path) in str(exc)
        return
    assert isinstance(zoo, Zoo)
    for section in ("train", "metrics", "bench"):
        assert isinstance(zoo.section(section), dict)


@FUZZ
@given(DOCUMENTS)
def test_fuzz_config_loader_on_random_mappings(tmp_path, data):
    path = write(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    _load_or_config_error(path)


@FUZZ
@given(st.dictionaries(st.sampled_from(["train", "models", "bench", "metrics"]),
                       st.dictionaries(KEYS, VALUES, max_size=4), min_size=1, max_size=3))
def test_fuzz_config_loader_on_plausible_sections(tmp_path, data):
    path = write(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    _load_or_config_error(path)


@FUZZ
@given(YAML_TEXT)
def test_fuzz_config_loader_on_random_text(tmp_path, text):
    _load_or_config_error(write(tmp_path, text))


@FUZZ
@given(st.one_of(st.text(max_size=60), st.builds(lambda k, v: f"{k}={v}", st.sampled_from(
    ["gan.lr_g", "dcgan", "train.steps", "models.gan.g_widths", "train", "models", "gan.loss", "x.y",
     "train.dataset_options.a", "bench.suites.quick.models"]), st.text(max_size=30))))
def test_fuzz_set_parser(item):
    zoo = load_zoo()
    try:
        result = zoo.with_overrides([item])
    except GanzooError as exc:
        assert str(exc)
        return
    assert isinstance(result, Zoo)
