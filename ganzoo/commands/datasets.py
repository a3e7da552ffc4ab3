"""``ganzoo datasets``: the data sets the plugins provide, their loader options and where they are looked for."""
from __future__ import annotations

import argparse
import json

from rich.table import Table

from ganzoo.console import console
from ganzoo.data import data_root, dataset_options
from ganzoo.registry import host

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the datasets sub-command."""
    p = sub.add_parser("datasets", help="list the data sets the plugins provide")
    p.add_argument("pattern", nargs="?", help="fnmatch filter, e.g. 'mnist*'")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print every registered data set with its plugin and loader options."""
    h = host()
    rows = []
    for name in h.names("datasets", args.pattern):
        e = h.table("datasets")[name]
        options = dataset_options(e.obj)
        rows.append({"name": name, "description": e.description, "plugin": e.plugin, "distribution": e.dist,
                     "version": e.version, "options": ["classes", *(options if options is not None else ["(any)"])]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"ganzoo data sets (data root: {data_root()})")
    for col in ("name", "description", "options", "distribution"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["description"], ", ".join(r["options"]), f"{r['distribution']} {r['version']}")
    console.print(table)
    console.print("Pass options with --data-option KEY=VALUE; --download fetches a missing torchvision data set.",
                  highlight=False)
    return 0
