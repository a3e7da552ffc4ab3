"""The ``ganzoo`` command line: parses arguments and dispatches to ``ganzoo.commands.*``."""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Any

from rich.markup import escape

from ganzoo import __version__
from ganzoo.console import err_console
from ganzoo.errors import GanzooError

__all__ = ["COMMANDS", "build_parser", "main"]

# Sub-command modules under ganzoo.commands, in the order ``ganzoo --help`` lists them.
COMMANDS = ["listing", "eval", "evaluator", "bench", "train", "sample", "translate", "export", "datasets", "new_plugin"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="ganzoo",
        description="A plugin-based zoo of image generative models: train, sample, evaluate and benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"ganzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"ganzoo.commands.{name}").add_parser(sub)
    return parser


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    """A Python warning as one line on stderr ("warning: …"), not the interpreter's file:line and source line."""
    err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ganzoo`` command; returns the exit code."""
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GanzooError as exc:
        # escaped: a message is plain text ("pip install 'ganzoo[hub]'" must not lose "[hub]" as markup)
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
