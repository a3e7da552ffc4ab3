"""The benchmark's JSON files: how they are read and written (atomically) and the keys of their columns."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ganzoo.files import atomic_write

__all__ = ["read_json", "target_key", "write_json"]


def target_key(target: float) -> str:
    """The results key of the time-to-quality column of one FID target, e.g. ``steps_to_fid_5``."""
    return f"steps_to_fid_{target:g}"


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or {} when the file is missing or unreadable (a run not started yet)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (tensors and numpy scalars as numbers)."""
    atomic_write(path, json.dumps(data, indent=2, default=_json_default, allow_nan=False))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
