"""Seeding and the random state of a run (Python, NumPy, torch CPU and CUDA), saved in every checkpoint."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from ganzoo.errors import ConfigError

__all__ = ["MAX_SEED", "check_seed", "get_state", "rank_state", "seed_everything", "set_state", "train_seed"]

#: The largest seed ganzoo takes (torch's generators take a signed 64-bit seed).
MAX_SEED = 2**63 - 1


def check_seed(flag: str, value: Any) -> int:
    """``value`` if it is an integer from 0 to :data:`MAX_SEED`, else a ConfigError naming ``flag`` (``--seed``)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{flag} {value!r}: must be an integer from 0 to 2**63-1")
    return value


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (the initialisation of a fresh run)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_seed(seed: int, rank: int) -> int:
    """The seed of the training noise on ``rank`` (different per rank, decorrelated from the initialisation)."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def get_state(device: torch.device) -> dict[str, Any]:
    """Every generator's state as tensors and plain values (loadable with ``weights_only=True``)."""
    version, keys, gauss = random.getstate()
    name, mt, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": [version, list(keys), gauss],
             "numpy": {"keys": torch.from_numpy(np.asarray(mt, dtype=np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached": float(cached)}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what ``get_state`` saved."""
    torch.set_rng_state(state["torch"])
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    npy = state["numpy"]
    np.random.set_state(("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached"]))
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def rank_state(blob: dict[str, Any], rank: int, world_size: int, distributed: bool) -> dict[str, Any]:
    """The random state of ``rank`` in a checkpoint (fresh noise per rank when the world size changed)."""
    ranks = blob.get("rank_rng")
    if not distributed:
        return blob["rng"]
    if ranks and len(ranks) == world_size:
        return ranks[rank]
    state = dict(blob["rng"])  # another world size: fresh noise per rank, same data order
    torch.manual_seed(train_seed(int(blob["config"]["seed"]) + int(blob["step"]), rank))
    state["torch"] = torch.get_rng_state()
    return state
