"""The data flags every command shares: ``--dataset``, ``--data-root``, ``--data-option`` mean the same in ``train``,
``eval``, ``evaluator fit`` and ``bench``."""
from __future__ import annotations

import argparse
from typing import Any

from ganzoo.config import parse_set
from ganzoo.data import DataSpec
from ganzoo.registry import host

__all__ = ["add_data_flags", "data_options", "data_spec"]


def add_data_flags(p: argparse.ArgumentParser, dataset_help: str | None, root_aliases: tuple[str, ...] = ()) -> None:
    """Add ``--dataset`` (unless ``dataset_help`` is None: the command names it positionally), ``--data-root`` (also
    spelt ``root_aliases``) and ``--data-option`` to a sub-command's parser."""
    if dataset_help is not None:
        p.add_argument("--dataset", help=dataset_help)
    p.add_argument("--data-root", *root_aliases, dest="data_root", metavar="DIR",
                   help="folder the data set reads (imagefolder: your images, one sub-folder per class; others: where "
                        "they are downloaded; default: $GANZOO_DATA or the cache)")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a data set loader option, e.g. image_size=32 for imagefolder or attribute=Blond_Hair for "
                        "celeba (see 'ganzoo datasets'); repeatable")


def data_options(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings (values read as YAML scalars or lists) as a dict of loader options."""
    out: dict[str, Any] = {}
    for item in items:
        path, value = parse_set(item, flag="--data-option", example="image_size=32")
        out[".".join(path)] = value
    return out


def data_spec(args: argparse.Namespace, recorded: DataSpec | None = None, default: str = "mnist-embedded") -> DataSpec:
    """The data the flags name, over ``recorded`` (a run's own data); an unknown data set fails here, first."""
    options = data_options(args.data_option)
    if recorded is not None:
        spec = recorded.override(args.dataset, options, args.data_root)
    else:
        spec = DataSpec.create(args.dataset or default, options, args.data_root)
    host().get("datasets", spec.name)  # a misspelt name: the closest names and 'ganzoo datasets'
    return spec
