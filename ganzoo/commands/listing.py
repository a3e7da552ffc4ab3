"""``ganzoo list``, ``ganzoo info`` and ``ganzoo plugins``: what the registry holds."""
from __future__ import annotations

import argparse
import json

from rich.table import Table

from ganzoo import create_model
from ganzoo.config import load_zoo
from ganzoo.console import console, err_console
from ganzoo.errors import ConfigError
from ganzoo.registry import host

__all__ = ["add_parser", "run_info", "run_list", "run_plugins"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the list, info and plugins sub-commands."""
    p = sub.add_parser("list", help="list the registered models")
    p.add_argument("pattern", nargs="?", help="fnmatch filter, e.g. '*gan'")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_list)

    p = sub.add_parser("info", help="a model's resolved hyperparameters and parameter counts")
    p.add_argument("name")
    p.add_argument("--config", help="zoo file (default: the zoo's zoo.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one value")
    p.add_argument("--image-shape", default="1,28,28", help="C,H,W (default 1,28,28)")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_info)

    p = sub.add_parser("plugins", help="installed plugins, their hooks and failures")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_plugins)


def _print_failures() -> None:
    for p in host().failures():
        err_console.print(f"[yellow]warning:[/] plugin {p.name!r} ({p.dist} {p.version}) failed: "
                          f"{p.errors[0]} — run 'ganzoo plugins' for details", highlight=False, soft_wrap=True)


def run_list(args: argparse.Namespace) -> int:
    """Print the registered models."""
    h = host()
    rows = []
    for name in h.names("models", args.pattern):
        e = h.table("models")[name]
        shipped = e.obj.pretrained_dir()
        rows.append({"name": name, "family": e.obj.family, "conditional": bool(e.obj.conditional),
                     "plugin": e.plugin, "distribution": e.dist, "version": e.version,
                     "description": e.description, "pretrained": str(shipped) if shipped else None})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        table = Table(title="ganzoo models")
        for col in ("name", "family", "conditional", "pretrained", "distribution", "description"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["name"], r["family"], "yes" if r["conditional"] else "no",
                          "yes" if r["pretrained"] else "no", f"{r['distribution']} {r['version']}", r["description"])
        console.print(table)
        if any(r["pretrained"] for r in rows):
            console.print("pretrained: weights the plugin ships, e.g. ganzoo sample cgan --pretrained --label 7",
                          highlight=False)
    _print_failures()
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print a model's resolved hyperparameters and the parameter count of each network."""
    zoo = load_zoo(args.config).with_overrides(args.set)
    try:
        shape = tuple(int(s) for s in args.image_shape.split(","))
        assert len(shape) == 3 and min(shape) > 0
    except (ValueError, AssertionError):
        raise ConfigError(f"--image-shape {args.image_shape!r}: expected C,H,W such as 1,28,28") from None
    entry = host().get("models", args.name)
    try:
        model = create_model(entry.name, image_shape=shape, num_classes=args.num_classes, zoo=zoo)
    except (ValueError, RuntimeError, TypeError) as exc:  # a combination of valid values the model cannot build
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{entry.name} (plugin {entry.plugin!r}, distribution {entry.dist!r}) cannot be built "
                          f"for images {'×'.join(map(str, shape))} with these hyperparameters: "
                          f"{type(exc).__name__}: {exc}. Check the values you set (ganzoo info {entry.name} "
                          "shows the defaults)") from exc
    info = {"name": entry.name, "family": entry.obj.family, "conditional": entry.obj.conditional,
            "distribution": f"{entry.dist} {entry.version}", "hparams": vars(model.hp),
            "parameters": model.parameter_counts()}
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    table = Table(title=f"{entry.name} — {entry.description}")
    table.add_column("hyperparameter")
    table.add_column("value")
    for k, v in info["hparams"].items():
        table.add_row(k, repr(v))
    console.print(table)
    counts = Table(title="parameters")
    counts.add_column("network")
    counts.add_column("parameters", justify="right")
    for k, v in info["parameters"].items():
        counts.add_row(k, f"{v:,}")
    counts.add_row("total", f"{sum(info['parameters'].values()):,}")
    console.print(counts)
    return 0


def run_plugins(args: argparse.Namespace) -> int:
    """Print every discovered plugin with its distribution, hooks and errors."""
    h = host()
    h.table("models")
    rows = [{"name": p.name, "distribution": p.dist, "version": p.version, "module": p.module,
             "hooks": p.hooks, "blocked": p.blocked, "errors": p.errors} for p in h.plugins.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="ganzoo plugins")
    for col in ("plugin", "distribution", "hooks", "status"):
        table.add_column(col)
    for r in rows:
        status = "blocked" if r["blocked"] else ("[red]" + "; ".join(r["errors"]) + "[/]" if r["errors"] else "ok")
        table.add_row(r["name"], f"{r['distribution']} {r['version']}", ", ".join(r["hooks"]), status)
    console.print(table)
    return 0
