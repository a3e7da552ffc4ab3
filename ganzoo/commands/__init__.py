"""The ``ganzoo`` sub-commands: one module each, with ``add_parser(subparsers)`` and ``run(args) -> int``."""

__all__: list[str] = []
