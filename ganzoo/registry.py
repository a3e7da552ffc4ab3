"""The plugin host: discovers plugins through the ``ganzoo`` entry-point group and collects what they register."""
from __future__ import annotations

import fnmatch
import importlib
import os
import re
import traceback
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Iterator

import pluggy

from ganzoo import hookspecs
from ganzoo.errors import PluginError, UnknownNameError, did_you_mean
from ganzoo.model import GenerativeModel, Range

__all__ = [
    "DISABLE_ENV", "ENTRY_POINT_GROUP", "KINDS", "NAME_RE", "Entry", "PluginHost", "PluginInfo", "Registered", "host",
    "model_class_problem", "reset", "valid_name", "warn_failures",
]

ENTRY_POINT_GROUP = "ganzoo"
DISABLE_ENV = "GANZOO_DISABLE_PLUGINS"
#: What a registered name (model, evaluator, data set) may be: lower-case letters, digits, '-', '_' and '.',
#: starting with a letter or digit. The conformance check and ``ganzoo new-plugin`` hold names to it too.
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.\-]*")
# The kinds of things plugins register: kind -> the hook that registers them.
KINDS = {"models": "register_models", "evaluators": "register_evaluators", "datasets": "register_datasets",
         "losses": "register_losses", "regularizers": "register_regularizers", "loggers": "register_loggers"}

# The kinds registered as classes: kind -> (the base class users subclass, the methods that identify one).
_CLASS_KINDS = {"models": ("ganzoo.GenerativeModel", ()),
                "losses": ("ganzoo.losses.AdversarialLoss", ("d_loss", "g_loss", "penalty", "summary")),
                "regularizers": ("ganzoo.regularizers.Regularizer", ("d_term", "summary")),
                "loggers": ("ganzoo.loggers.Logger", ("start", "log_scalars", "log_images", "log_hparams", "close",
                                                      "summary"))}


@dataclass(frozen=True)
class Entry:
    """One registered thing (a model class, an evaluator factory, a data set loader) and who registered it."""

    kind: str
    name: str
    obj: Any
    description: str
    plugin: str
    dist: str
    version: str


@dataclass
class PluginInfo:
    """A loaded (or failed) plugin: its entry-point name, distribution, hooks and errors."""

    name: str
    dist: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    blocked: bool = False

    @property
    def ok(self) -> bool:
        """True when the plugin loaded and every hook ran without error."""
        return not self.errors and not self.blocked


def _natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text.lower())]


class PluginHost:
    """Holds the pluggy manager, the plugins it loaded and the tables they registered."""

    def __init__(self) -> None:
        """An empty host: nothing is discovered until the first query (or :meth:`load`)."""
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._loaded = False
        self._tables: dict[str, dict[str, Entry]] | None = None
        self._rejected: dict[str, dict[str, str]] = {}  # kind -> name -> why its broken class was refused

    # -- loading -------------------------------------------------------------------------------------
    def load(self) -> None:
        """Import every plugin of the entry-point group once; failures are recorded, never raised."""
        if self._loaded:
            return
        self._loaded = True
        blocked = {_normalize(n) for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
        eps = sorted(
            metadata.entry_points(group=ENTRY_POINT_GROUP),
            key=lambda ep: (_dist(ep)[0] != "ganzoo", _dist(ep)[0], ep.name),
        )
        seen: set[tuple[str, str]] = set()
        for ep in eps:
            dist, version = _dist(ep)
            if (ep.name, ep.value) in seen:  # the same distribution seen twice on sys.path
                continue
            seen.add((ep.name, ep.value))
            info = PluginInfo(ep.name, dist, version, ep.value)
            if ep.name in self.plugins:
                info.errors.append(
                    f"plugin name {ep.name!r} is already used by distribution {self.plugins[ep.name].dist!r}; "
                    "rename the entry point in your pyproject.toml"
                )
                self.plugins[f"{ep.name}@{dist}"] = info
                continue
            self.plugins[ep.name] = info
            if _normalize(ep.name) in blocked or _normalize(dist) in blocked:
                info.blocked = True
                continue
            try:
                module = ep.load()
            except BaseException as exc:  # a broken plugin never breaks the host (not even by sys.exit)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                info.errors.append(f"failed to import {ep.value!r}: {type(exc).__name__}: {exc}{_where(exc)}")
                continue
            try:
                self.pm.register(module, name=ep.name)
            except Exception as exc:  # pluggy refuses e.g. a hook with the wrong argument names
                info.errors.append(f"cannot register {ep.value!r}: {type(exc).__name__}: {exc}")
                continue
            self._check_hooks(info, module)

    def register_plugin(self, plugin: object, name: str, dist: str = "(in-process)", version: str = "") -> None:
        """Register a plugin object without installing it (tests, notebooks); undo with :meth:`unregister_plugin`."""
        self.load()
        if name in self.plugins or self.pm.has_plugin(name):
            raise PluginError(f"a plugin named {name!r} is already registered; choose another name or "
                              "unregister_plugin() it first")
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            raise PluginError(f"cannot register plugin {name!r}: {type(exc).__name__}: {exc}") from None
        info = PluginInfo(name, dist, version, repr(plugin))
        self.plugins[name] = info
        self._check_hooks(info, plugin)
        self._tables = None

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register_plugin`."""
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self.plugins.pop(name, None)
        self._tables = None

    def _check_hooks(self, info: PluginInfo, plugin: object) -> None:
        impls = [n for n in dir(plugin) if self.pm.parse_hookimpl_opts(plugin, n) is not None]
        for n in (n for n in impls if n not in KINDS.values()):
            info.errors.append(f"implements unknown hook {n!r}.{did_you_mean(n, KINDS.values())}")
        info.hooks = sorted(n for n in impls if n in KINDS.values())
        unmarked = [n for n in KINDS.values() if n not in impls and callable(getattr(plugin, n, None))]
        for n in unmarked:
            info.errors.append(f"defines {n}() but does not mark it with @ganzoo.hookimpl, so ganzoo never calls it")
        if not impls and not unmarked:
            info.errors.append(f"implements no ganzoo hook; define one of {', '.join(KINDS.values())} "
                               "marked with @ganzoo.hookimpl")

    # -- tables --------------------------------------------------------------------------------------
    def table(self, kind: str) -> dict[str, Entry]:
        """All entries of one kind (``models``, ``evaluators``, ``datasets``), by name."""
        self.load()
        if self._tables is None:
            self._tables = self._collect()
        return self._tables[kind]

    def _collect(self) -> dict[str, dict[str, Entry]]:
        tables: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._rejected = {kind: {} for kind in KINDS}
        for kind, hook_name in KINDS.items():
            hook = getattr(self.pm.hook, hook_name)
            # get_hookimpls() lists the plugins in registration order: ganzoo's own first, so that a name taken
            # twice stays with the plugin that registered it first and the later one is reported.
            for impl in hook.get_hookimpls():
                info = self.plugins.get(impl.plugin_name)
                if info is None or info.blocked:
                    continue
                register = self._make_register(kind, info, tables[kind])
                try:
                    impl.function(register=register)
                except Exception as exc:  # the registrations made before the error are kept
                    info.errors.append(f"{hook_name} raised {type(exc).__name__}: {exc}{_where(exc)}")
        return tables

    def _make_register(self, kind: str, info: PluginInfo, table: dict[str, Entry]) -> Callable[..., None]:
        # A bad registration is recorded on the plugin and skipped: its other registrations still count.
        def add(name: str, obj: Any, description: str) -> None:
            if not valid_name(name):
                info.errors.append(
                    f"{_singular(kind)} name {name!r} is invalid: use lower-case letters, digits, '-', '_' or '.'"
                )
                return
            if name in table:
                owner = table[name]
                info.errors.append(
                    f"{_singular(kind)} {name!r} is already registered by plugin {owner.plugin!r} "
                    f"(distribution {owner.dist!r}); this registration was ignored — choose another name"
                )
                return
            table[name] = Entry(kind, name, obj, description, info.name, info.dist, info.version)

        if kind in _CLASS_KINDS:
            # Losses, regularisers and loggers are checked by their methods: their modules sit above the registry.
            base_name, methods = _CLASS_KINDS[kind]

            def is_base(cls: Any) -> bool:
                if kind == "models":
                    return isinstance(cls, type) and issubclass(cls, GenerativeModel)
                return isinstance(cls, type) and all(callable(getattr(cls, m, None)) for m in methods)

            def register_class(cls: Any, name: str | None = None) -> None:
                if not is_base(cls):
                    info.errors.append(f"register() expects a {base_name} subclass, got {cls!r}; "
                                       "the registration was ignored")
                    return
                class_name = name or getattr(cls, "name", None)
                if not class_name:
                    info.errors.append(f"{cls.__name__} has no 'name'; set the class attribute or pass name=")
                    return
                if kind == "models" and (problem := model_class_problem(cls)):  # refused: get() names the plugin
                    info.errors.append(f"model {class_name!r} ({cls.__module__}.{cls.__qualname__}) was not "
                                       f"registered: {problem}")
                    self._rejected[kind].setdefault(class_name, (
                        f"model {class_name!r} of plugin {info.name!r} (distribution "
                        f"{f'{info.dist} {info.version}'.strip()!r}) was not registered: "
                        f"{problem}. This is a bug in that plugin: report it to its authors, or block it with "
                        f"{DISABLE_ENV}"))
                    return
                add(class_name, cls, cls.summary())

            return register_class

        def register_other(name: str, obj: Any, description: str = "") -> None:
            if not callable(obj):
                info.errors.append(f"{_singular(kind)} {name!r}: register() expects a callable, got {obj!r}")
                return
            add(name, obj, description)

        return register_other

    # -- queries -------------------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Entry:
        """The entry ``name`` of ``kind``, or an :class:`UnknownNameError` that suggests close names."""
        table = self.table(kind)
        if name in table:
            return table[name]
        lower = name.lower() if isinstance(name, str) else name
        if lower in table:
            return table[lower]
        if lower in self._rejected.get(kind, {}):
            raise PluginError(self._rejected[kind][lower])
        hint = did_you_mean(lower, table)
        command = {"models": "ganzoo list", "evaluators": "ganzoo evaluator list", "datasets": "ganzoo datasets"}
        known = (f"Run '{command[kind]}' to see what is available." if kind in command
                 else f"Registered {kind}: {', '.join(self.names(kind)) or 'none'}.")
        failed = [p for p in self.plugins.values() if p.errors]
        extra = " Some plugins failed to load: run 'ganzoo plugins'." if failed else ""
        raise UnknownNameError(f"Unknown {_singular(kind)} {name!r}.{hint} {known}{extra}")

    def names(self, kind: str, pattern: str | None = None) -> list[str]:
        """Sorted names of one kind, filtered by an fnmatch ``pattern``."""
        names = list(self.table(kind))
        if pattern:
            names = [n for n in names if fnmatch.fnmatch(n, pattern.lower())]
        return sorted(names, key=_natural_key)

    def failures(self) -> list[PluginInfo]:
        """Plugins that failed to import, raised in a hook, or registered a taken name."""
        self.table("models")
        return [p for p in self.plugins.values() if p.errors]


class Registered:
    """A hyperparameter's allowed values: the names registered of one kind, read when asked (plugins add to them)."""

    def __init__(self, kind: str) -> None:
        """Allow the names registered of ``kind`` (one of :data:`KINDS`), looked up anew on each test."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
        self.kind = kind

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and value in host().table(self.kind)

    def __iter__(self) -> Iterator[str]:
        return iter(host().names(self.kind))

    def __repr__(self) -> str:
        return f"Registered({self.kind!r})"

    def __str__(self) -> str:
        return f"one of the registered {self.kind} ({', '.join(map(repr, self))})"


def model_class_problem(cls: type) -> str:
    """Why a model class's ``defaults`` or ``choices`` are unusable ('' when they are not); :class:`Registered`
    choices are left to the config check: their names come from plugins that may load later."""
    defaults, choices = getattr(cls, "defaults", None), getattr(cls, "choices", {})
    if not isinstance(defaults, dict) or not all(isinstance(k, str) for k in defaults):
        return f"defaults must be a dict of hyperparameter name -> default value, got {defaults!r}"
    for key, value in defaults.items():
        if _not_plain(value):
            return f"defaults[{key!r}] is {_not_plain(value)}"
    if not isinstance(choices, dict):
        return f"choices must be a dict of hyperparameter name -> allowed values, got {choices!r}"
    for key, allowed in choices.items():
        if key not in defaults:
            return f"choices[{key!r}] names no hyperparameter of defaults; add {key!r} to defaults or drop the choice"
        if not hasattr(type(allowed), "__contains__"):
            return (f"choices[{key!r}] must be a tuple of allowed values, a ganzoo.Range or an object with "
                    f"__contains__, got {allowed!r}")
        value = defaults[key]
        try:
            ok = isinstance(allowed, Registered) or (all(v in allowed for v in value) if isinstance(value, list)
                                                     and isinstance(allowed, Range) else value in allowed)
        except Exception as exc:  # noqa: BLE001 — the plugin's own choice object failed: that is the report
            ok, allowed = False, f"{allowed}, which raised {type(exc).__name__}: {exc}"
        if not ok:
            return f"the default {key}={value!r} is not allowed by its own choices ({allowed})"
    return ""


def _not_plain(value: Any) -> str:
    """Why zoo.yaml could not hold the default ``value`` ('' when it could)."""
    if isinstance(value, float) and value != value:
        return "NaN; give a number (or None for 'not set')"
    if value is None or isinstance(value, (bool, int, float, str)):
        return ""
    if isinstance(value, tuple):
        return f"a tuple {value!r}; use a list {list(value)!r} (zoo.yaml and --set give lists)"
    if isinstance(value, list):
        nested = next((v for v in value if isinstance(v, (list, tuple, dict))), None)
        why = f"{_article(nested)}, not a number, string or boolean" if nested is not None \
            else next(filter(None, map(_not_plain, value)), "")
        return f"a list holding {why}" if why else ""
    if isinstance(value, dict):
        return next((f"a mapping whose {k!r} is {why}" for k, v in value.items() if (why := _not_plain(v))), "")
    return f"{_article(value)} ({value!r}); a default must be None, a boolean, a number, a string or a list of them"


def _article(value: Any) -> str:
    return f"{'an' if type(value).__name__[:1] in 'aeiouAEIOU' else 'a'} {type(value).__name__}"


def _singular(kind: str) -> str:
    """One of a kind: ``models`` → ``model``, ``losses`` → ``loss``."""
    return kind[:-2] if kind.endswith("sses") else kind[:-1]  # regularizers → regularizer


def _normalize(name: str) -> str:
    """A plugin or distribution name compared the way pip does: case and runs of '-', '_', '.' ignored."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _where(exc: BaseException) -> str:
    """`` (at FILE:LINE)`` of the innermost frame of ``exc``'s traceback ('' without one)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" (at {exc.filename}:{exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _dist(ep: metadata.EntryPoint) -> tuple[str, str]:
    """The name and version of the distribution that declares ``ep``."""
    dist = getattr(ep, "dist", None)
    return (dist.metadata["Name"], dist.version) if dist is not None else ("(unknown)", "")


_host: PluginHost | None = None


def host() -> PluginHost:
    """The process-wide plugin host (created on first use; plugins load lazily, once)."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host


def reset() -> None:
    """Forget the loaded plugins so the next query discovers them again (tests, after pip installs)."""
    global _host
    _host = None
    importlib.invalidate_caches()


def warn_failures() -> None:
    """Emit one warning per failed plugin (the library's way to report them outside the CLI)."""
    for p in host().failures():
        warnings.warn(f"ganzoo plugin {p.name!r} ({p.dist} {p.version}): {'; '.join(p.errors)}", stacklevel=2)


def valid_name(name: object) -> bool:
    """True when ``name`` may be registered (see :data:`NAME_RE`)."""
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None
