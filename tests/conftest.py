"""Shared fixtures: every test runs with its caches in a temporary folder and a freshly loaded registry."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep ganzoo's cache (embedded MNIST tensor, real statistics) out of the user's home."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GANZOO_CACHE", str(tmp_path_factory.mktemp("ganzoo-cache")))
    mp.delenv("GANZOO_DISABLE_PLUGINS", raising=False)
    mp.delenv("GANZOO_CONFIG", raising=False)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def one_torch_thread() -> None:
    """One torch thread for a module of tiny networks: fastest, and it cannot oversubscribe a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
