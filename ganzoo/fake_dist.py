"""A fake installed distribution on disk: how tests install a plugin package without pip (re-exported by
``ganzoo.testing``)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

__all__ = ["make_distribution"]


def make_distribution(root: str | Path, name: str, version: str = "1.0",
                      entry_points: Mapping[str, str] | None = None, files: Mapping[str, str] | None = None,
                      group: str = "ganzoo") -> Path:
    """Write a fake installed distribution into ``root`` (put ``root`` on sys.path, then ``registry.reset()``).

    :param name: the distribution name, e.g. ``"ganzoo-mygan"``.
    :param entry_points: entry-point name -> ``"module"`` or ``"module:object"`` in ``group``.
    :param files: relative path -> source text of the modules to write next to the dist-info.
    :returns: the ``*.dist-info`` folder.
    """
    root = Path(root)
    norm = re.sub(r"[-_.]+", "_", name)
    dist_info = root / f"{norm}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=False)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                                        encoding="utf-8")
    lines = [f"[{group}]"] + [f"{k} = {v}" for k, v in (entry_points or {}).items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return dist_info
