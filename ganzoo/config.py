"""zoo.yaml: loading, validation and ``--set`` overrides of the zoo's defaults."""
from __future__ import annotations

import copy
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ganzoo.errors import ConfigError, did_you_mean
from ganzoo.files import file_problem
from ganzoo.model import Range
from ganzoo.registry import Registered, host

__all__ = [
    "CONFIG_ENV", "SECTIONS", "SECTION_CHOICES", "Zoo", "check_hparams", "default_zoo_path", "defaults_of", "load_zoo",
    "parse_set",
]

CONFIG_ENV = "GANZOO_CONFIG"
#: The most scalars and containers a zoo file may hold once its aliases are expanded (a YAML "billion laughs"
#: document stays small on disk but explodes in memory when written out).
MAX_NODES = 100_000
#: The largest zoo file read (settings, not data).
MAX_BYTES = 1_000_000


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-4`` and ``3E5`` as numbers (YAML 1.1 needs ``1.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_load(text: str) -> Any:
    """Parse YAML safely (no Python tags); every parser failure becomes a ``yaml.YAMLError``-like ValueError."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError:
        raise
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except Exception as exc:  # e.g. a timestamp such as 2020-13-45 that is not a date
        raise ValueError(f"{type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class MapOf:
    """Schema of a mapping whose keys are free names (suites, data sets) and whose values follow ``schema``."""

    schema: Any


@dataclass(frozen=True)
class Choice:
    """Schema of a string (or None when ``optional``) restricted to ``options``."""

    options: tuple
    default: Any = None


#: Schemas of the non-model sections: the type of each default is the type a value must have.
#: Other modules add their section here (``SECTIONS["bench"] = {...}``) before the zoo is loaded.
SECTIONS: dict[str, Any] = {
    "train": {
        "steps": 2000,
        "seed": 0,
        "dataset": "mnist-embedded",
        "sample_every": 500,
        "checkpoint_every": 500,
        "keep_checkpoints": 3,
        "log_every": 50,
        "sample_grid": 64,
        # Where the images live while training: auto (on the device if they fit), device or stream.
        "data_placement": "auto",
        # Options of the data set's loader (see `ganzoo datasets`), e.g. {attribute: Blond_Hair} for celeba.
        "dataset_options": MapOf(None),
        # Registered experiment loggers (ganzoo.loggers); `ganzoo train --logger NAME` adds one for a run.
        "loggers": ["jsonl"],
    },
    # Per data set settings: which evaluator scores it (metrics), and loader options.
    "datasets": MapOf({"evaluator": "", "description": ""}),
    # How scores are computed (ganzoo eval, ganzoo bench).
    "metrics": {
        "n_eval": 10000,
        "batch_size": 500,
        "seed": 0,
        "is_splits": 10,
        "kid_subsets": 50,
        "kid_subset_size": 1000,
        "n_real": 0,
        # Precision/recall/density/coverage: k nearest neighbours, on this many real and as many generated features.
        "prdc_k": 5,
        "prdc_samples": 5000,
        # The evaluator of a data set that the datasets section does not name.
        "evaluator": "inception-v3",
    },
    # Benchmark suites (ganzoo bench).
    "bench": {
        "suite": "default",
        "suites": MapOf({"models": [], "dataset": "mnist-embedded", "dataset_options": MapOf(None), "data_root": "",
                         "evaluator": "", "steps": 0, "minutes": 0.0, "seeds": 1, "n_eval": 0, "eval_every": 0,
                         "set": [],
                         # Time to quality: report the first scored step whose FID is at or below each target.
                         "fid_targets": [1.0]}),
    },
}
#: Allowed values of the non-model sections, by dotted key path.
SECTION_CHOICES: dict[str, Any] = {
    "train.steps": Range(1, None),
    "train.seed": Range(0, None),
    "train.sample_every": Range(0, None),
    "train.checkpoint_every": Range(0, None),
    "train.keep_checkpoints": Range(1, 1000),
    "train.log_every": Range(1, None),
    "train.sample_grid": Range(1, 4096),
    "train.data_placement": ("auto", "device", "stream"),
    "train.loggers": Registered("loggers"),
    "metrics.seed": Range(0, None),
    "metrics.n_eval": Range(1, 200_000),
    "metrics.batch_size": Range(1, 65_536),
    "metrics.is_splits": Range(1, 1000),
    "metrics.kid_subsets": Range(1, 10000),
    "metrics.kid_subset_size": Range(2, 200_000),
    "metrics.n_real": Range(0, 10_000_000),
    "metrics.prdc_k": Range(1, 100),
    "metrics.prdc_samples": Range(0, 200_000),
}


def default_zoo_path() -> Path:
    """Where the zoo's own zoo.yaml lives (the source tree, or ``<prefix>/share/ganzoo`` when installed)."""
    here = Path(__file__).resolve().parent.parent / "zoo.yaml"
    if here.is_file():
        return here
    return Path(sys.prefix) / "share" / "ganzoo" / "zoo.yaml"


def load_zoo(path: str | os.PathLike | None = None) -> "Zoo":
    """The zoo's own zoo.yaml with a user's zoo file (``path``, else ``$GANZOO_CONFIG``) merged over it.

    Every command merges the same way: mappings key by key (a file may hold only ``datasets:``, or one model's
    learning rate), anything else (a number, a list) replaces the default. Both files are validated.
    """
    own = default_zoo_path()
    given, flag = (path, "--config") if path else (os.environ.get(CONFIG_ENV) or None, f"${CONFIG_ENV}")
    base = _read_zoo(own, "--config") if own.is_file() or not given else Zoo({}, str(own))
    if not given:
        return base
    if os.path.realpath(given) == os.path.realpath(own):  # realpath: a symlink loop is the reader's to report
        return base
    user = _read_zoo(Path(given), flag)
    merged = Zoo(_merge_files(base.data, user.data), str(given))
    merged.validate()
    return merged


def _read_zoo(path: Path, flag: str) -> "Zoo":
    """One zoo file, parsed and validated on its own (so that its errors name it)."""
    problem = file_problem(path, MAX_BYTES)
    if problem == "it does not exist":
        raise ConfigError(f"{path}: config file not found; pass an existing file to {flag}")
    if problem:
        raise ConfigError(f"{path}: cannot read the config file: {problem}; pass a YAML zoo file to {flag}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc}); pass a readable YAML file to {flag}") from None
    try:
        data = _yaml_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        problem = ", ".join(str(p) for p in parts if p) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML for ganzoo: {problem}. "
                          "Plain YAML mappings only (no Python tags).") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid YAML for ganzoo: {exc}. Plain YAML mappings only.") from None
    if data is None:
        data = {}
    _check_size(data, str(path))
    zoo = Zoo(data, str(path))
    zoo.validate()
    return zoo


def _merge_files(base: Any, over: Any) -> Any:
    """``over`` merged into ``base``: mappings key by key, any other value replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if v is None and k in base:  # an empty section (every key commented out) keeps the defaults
                continue
            out[k] = _merge_files(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


class Zoo:
    """A validated zoo configuration: the raw mapping plus typed accessors."""

    def __init__(self, data: Any, source: str = "<memory>") -> None:
        """``data``: the parsed mapping (call :meth:`validate`); ``source``: the file named in errors."""
        self.data = data
        self.source = source

    def _err(self, keypath: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {keypath}: {message}")

    def validate(self) -> None:
        """Check every section against its schema and every model section against the model's defaults."""
        if not isinstance(self.data, dict):
            raise ConfigError(f"{self.source}: the top level must be a mapping of sections, "
                              f"got {type(self.data).__name__}")
        allowed = ["models", *SECTIONS]
        for key, value in self.data.items():
            if value is None and key in allowed:  # an empty section (every key commented out)
                continue
            if key == "models":
                self._validate_models(value)
            elif key in SECTIONS:
                _check(value, SECTIONS[key], str(key), self)
            else:
                raise self._err(str(key), _unknown(key, allowed, "section"))

    def _validate_models(self, models: Any) -> None:
        if not isinstance(models, dict):
            raise self._err("models", f"must be a mapping of model name -> settings, got {type(models).__name__}")
        table = host().table("models")
        for name, section in models.items():
            if name not in table:
                # A model of a plugin that is not installed: keep its settings, they may be used later.
                if section is not None and not isinstance(section, dict):
                    raise self._err(f"models.{name}", "must be a mapping of hyperparameters")
                continue
            cls = table[name].obj
            _check({} if section is None else section, cls.defaults, f"models.{name}", self, cls.choices,
                   prefix="")

    # -- accessors -----------------------------------------------------------------------------------
    def section(self, name: str) -> dict[str, Any]:
        """A non-model section merged over its schema's defaults."""
        return _merge(defaults_of(SECTIONS.get(name, {})), self.data.get(name) or {})

    def model_hparams(self, name: str) -> dict[str, Any]:
        """A registered model's hyperparameters: its defaults overridden by this zoo's ``models.NAME``."""
        cls = host().get("models", name).obj
        return _merge(cls.defaults, (self.data.get("models") or {}).get(name) or {})

    def with_overrides(self, overrides: list[str] | None) -> "Zoo":
        """A new zoo with ``key.path=value`` overrides applied and validated."""
        if not overrides:
            return self
        data = copy.deepcopy(self.data)
        for item in overrides:
            keypath, value = parse_set(item)
            _assign(data, keypath, value, self)
        zoo = Zoo(data, f"{self.source} + --set")
        zoo.validate()
        return zoo


def parse_set(item: Any, flag: str = "--set", example: str = "dcgan.lr=1e-4") -> tuple[list[str], Any]:
    """Parse one ``--set key.path=value`` (value read as a YAML scalar) into (path, value); ``flag`` and ``example``
    name the option in messages (``--data-option``)."""
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE, for example {flag} {example}")
    key, _, raw = item.partition("=")
    parts = key.strip().split(".")
    if not key.strip() or any(not p.strip() for p in parts):
        raise ConfigError(f"{flag} {item!r}: the key is empty or has an empty part; for example {flag} {example}")
    try:
        value = _yaml_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError):
        value = raw
    scalars = (str, int, float, bool, type(None))
    if isinstance(value, list) and all(isinstance(v, scalars) for v in value):
        return [p.strip() for p in parts], value
    if not isinstance(value, scalars):
        raise ConfigError(f"{flag} {item!r}: the value must be a number, string, boolean or a list of them "
                          "such as [64,128]")
    # ``nan`` and ``inf`` stay strings (a data set may be called that); YAML's ``.nan`` and ``.inf`` are numbers.
    return [p.strip() for p in parts], value


def _assign(data: dict, keypath: list[str], value: Any, zoo: Zoo) -> None:
    # ``dcgan.lr`` is short for ``models.dcgan.lr`` when the first part is a model name.
    if keypath[0] not in SECTIONS and keypath[0] != "models":
        if keypath[0] in host().table("models"):
            keypath = ["models", *keypath]
        else:
            allowed = [*SECTIONS, *host().names("models")]
            raise ConfigError(f"--set {'.'.join(keypath)}: {_unknown(keypath[0], allowed, 'section or model')}")
    node = data
    for i, part in enumerate(keypath[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {'.'.join(keypath)}: {'.'.join(keypath[:i + 1])} is not a section")
        node = nxt
    node[keypath[-1]] = value


def _unknown(key: Any, allowed: list, what: str) -> str:
    return f"unknown {what} {key!r}.{did_you_mean(key, allowed)} Allowed: {', '.join(str(a) for a in allowed)}"


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            dict: "a mapping", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


def _check(value: Any, schema: Any, path: str, zoo: Zoo, choices: Mapping | None = None,
           prefix: str | None = None) -> None:
    """Validate ``value`` against ``schema`` (a defaults mapping, :class:`MapOf`, :class:`Choice` or a default)."""
    if isinstance(schema, MapOf):
        if not isinstance(value, dict):
            raise zoo._err(path, f"must be a mapping of name -> settings, got {_type_name(value)}")
        for k, v in value.items():
            _check(v, schema.schema, f"{path}.{k}", zoo)
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise zoo._err(path, f"must be a mapping, got {_type_name(value)}")
        for k, v in value.items():
            if k not in schema:
                raise zoo._err(f"{path}.{k}", _unknown(k, list(schema), "key"))
            _check(v, schema[k], f"{path}.{k}", zoo, choices, prefix)
        return
    key = path.split(".")[-1]
    if isinstance(schema, Choice):
        if value not in schema.options:
            raise zoo._err(path, f"{value!r} is not allowed; choose one of {', '.join(map(repr, schema.options))}")
        return
    _check_scalar(value, schema, path, zoo)
    allowed = (choices or {}).get(key) if prefix is not None else SECTION_CHOICES.get(path)
    if allowed is None:
        return
    listed = isinstance(allowed, (tuple, list, Registered))  # else an object that says what it allows (a Range)
    what = "one of " + ", ".join(map(repr, allowed)) if listed else str(allowed)
    if isinstance(value, list) and isinstance(allowed, (Range, Registered)):  # each item of a list
        for i, item in enumerate(value):
            if item not in allowed:
                raise zoo._err(f"{path}[{i}]", f"{item!r} is not allowed; it must be {what}")
    elif value not in allowed:
        names = [str(a) for a in allowed] if listed and isinstance(value, str) else []
        raise zoo._err(path, f"{value!r} is not allowed; it must be {what}.{did_you_mean(value, names)}".rstrip("."))


def _check_scalar(value: Any, default: Any, path: str, zoo: Zoo) -> None:
    if default is None:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and value != value:
            raise zoo._err(path, "NaN is not allowed")
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)
        if ok and default:  # the items must have the type of the default's items (widths: integers)
            for i, item in enumerate(value):
                _check_scalar(item, default[0], f"{path}[{i}]", zoo)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise zoo._err(path, f"must be {_type_name(default)}, got {value!r} ({_type_name(value)})")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > 1e12:
        raise zoo._err(path, f"{value!r} is out of range")


def _check_size(data: Any, source: str) -> None:
    """Refuse recursive aliases and documents that expand to more than :data:`MAX_NODES` nodes."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(f"{source}: a YAML alias refers to itself (recursive anchor); write the values out")
        active.add(key)
        children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise ConfigError(f"{source}: the document is too large once its aliases are expanded "
                                  f"(more than {MAX_NODES:,} values); a zoo file holds settings, not data")
        active.discard(key)
        sizes[key] = total
        return total

    size(data)


def defaults_of(schema: Any) -> Any:
    """The plain default value of a schema: a free mapping (:class:`MapOf`) is empty, a :class:`Choice` its default."""
    if isinstance(schema, MapOf):
        return {}
    if isinstance(schema, Choice):
        return schema.default
    if isinstance(schema, dict):
        return {k: defaults_of(v) for k, v in schema.items()}
    return copy.deepcopy(schema)


def _merge(defaults: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(defaults))
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = float(v) if isinstance(out.get(k), float) and isinstance(v, int) else copy.deepcopy(v)
    return out


def check_hparams(model: str, hparams: Any, source: str) -> None:
    """Check a registered model's hyperparameters read from ``source`` as zoo.yaml's are (keys, types, ranges)."""
    cls = host().get("models", model).obj
    _check(hparams, cls.defaults, "hparams", Zoo({}, source), cls.choices, prefix="")
