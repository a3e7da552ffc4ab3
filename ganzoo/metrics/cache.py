"""The real-image statistics (evaluator features, logits, labels), cached on disk under a key made of their protocol."""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganzoo.data import cache_dir as ganzoo_cache
from ganzoo.files import atomic_write, file_problem

__all__ = ["CACHE_VERSION", "RealStats", "load_stats", "save_stats", "stats_dir", "stats_key"]

#: Bumped whenever the way real statistics are computed changes, so old cache files are never reused.
CACHE_VERSION = 2  # 2: classifier evaluators run channels-last


@dataclass
class RealStats:
    """What the scores need from the real images: evaluator features and logits, labels, and how they were made."""

    features: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor | None
    #: dataset, real_split, real_count, image_shape, num_classes, and the evaluator's protocol.
    info: dict[str, Any]
    key: str = ""
    cache_hit: bool = False

    @property
    def count(self) -> int:
        """Number of real images."""
        return int(self.features.shape[0])


def stats_key(protocol: dict[str, Any]) -> str:
    """A stable hex key for a protocol mapping (JSON with sorted keys, SHA-256)."""
    text = json.dumps({"cache_version": CACHE_VERSION, **protocol}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def stats_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder of cached real statistics: ``cache_dir``, else ``<ganzoo cache>/real-stats``."""
    if cache_dir is not None:
        return Path(cache_dir)
    return ganzoo_cache() / "real-stats"


def load_stats(key: str, cache_dir: str | os.PathLike | None = None) -> RealStats | None:
    """The cached statistics for ``key``, or None when absent or unreadable (a damaged file is removed)."""
    path = stats_dir(cache_dir) / f"{key}.pt"
    if file_problem(path, 2**34):
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("key") != key:
            raise ValueError("key mismatch")
        return RealStats(blob["features"], blob["logits"], blob.get("labels"), dict(blob["info"]), key,
                         cache_hit=True)
    except Exception:  # damaged or foreign: recompute rather than trust it
        path.unlink(missing_ok=True)
        return None


def save_stats(stats: RealStats, cache_dir: str | os.PathLike | None = None) -> Path:
    """Write ``stats`` under its key atomically; returns the file's path."""
    path = stats_dir(cache_dir) / f"{stats.key}.pt"
    buffer = io.BytesIO()
    torch.save({"key": stats.key, "features": stats.features.cpu(), "logits": stats.logits.cpu(),
                "labels": None if stats.labels is None else stats.labels.cpu(),
                "info": json.loads(json.dumps(stats.info, default=str))}, buffer)
    return atomic_write(path, buffer.getvalue())
