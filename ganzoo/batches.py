"""Training batches from an in-memory data set: a seeded permutation per epoch, sliced by index.

The fast path keeps the uint8 images once on the training device and gathers each batch by index, normalising
to [-1, 1] per batch: no per-sample Python, no worker processes. A data set too large for the device's memory
streams instead: the same index batches gathered on the host by a DataLoader, pinned, copied asynchronously.
Both paths draw exactly the same batches, and their position (epoch, offset, permutation, generator) is part of
every checkpoint, so a resumed run sees the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch

from ganzoo.data import ImageData, to_unit_range
from ganzoo.errors import ConfigError, DataError
from ganzoo.model import Batch

__all__ = ["PLACEMENTS", "BatchStream"]

#: Where the images live while training: ``auto`` (on the device when they fit in half its free memory),
#: ``device`` (always) or ``stream`` (host memory, through a DataLoader).
PLACEMENTS = ("auto", "device", "stream")


class BatchStream:
    """An endless iterator of :class:`Batch` for one rank: global batches of ``batch_size`` drawn without
    replacement from a per-epoch permutation (the last incomplete batch of an epoch is dropped); rank ``r`` of
    ``world_size`` gets slice ``r`` of each global batch."""

    def __init__(self, data: ImageData, batch_size: int, device: torch.device, seed: int, *, rank: int = 0,
                 world_size: int = 1, placement: str = "auto", workers: int | None = None) -> None:
        if placement not in PLACEMENTS:
            raise ConfigError(f"train.data_placement {placement!r}: choose one of {', '.join(PLACEMENTS)}")
        if batch_size % world_size:
            raise ConfigError(f"batch size {batch_size} does not split evenly over {world_size} processes; use a "
                              f"multiple of {world_size} (the batch size is the global batch, shared by all ranks)")
        if len(data) < batch_size:
            raise DataError(f"data set {data.name!r} has {len(data)} images, fewer than one batch of {batch_size}; "
                            "lower --batch-size")
        self.data = data
        self.batch_size = batch_size
        self.local = batch_size // world_size
        self.rank = rank
        self.device = torch.device(device)
        self.batches_per_epoch = len(data) // batch_size
        self.generator = torch.Generator().manual_seed(int(seed))
        self.epoch = 0
        self.offset = 0
        self.perm: torch.Tensor | None = None
        self._perm_dev: torch.Tensor | None = None
        self.placement = self._choose(placement)
        self.workers = workers if workers is not None else (2 if self.device.type == "cuda" else 0)
        if self.placement == "device":
            self.images = data.images.to(self.device)
            self.labels = data.labels.to(self.device)
        self._iter: Iterator[Any] | None = None

    def _choose(self, placement: str) -> str:
        if placement != "auto":
            return placement
        if self.device.type != "cuda":
            return "device"  # the host is the device: the data already sits where training reads it
        free, _ = torch.cuda.mem_get_info(self.device)
        need = self.data.images.numel() * self.data.images.element_size() + self.data.labels.numel() * 8
        return "device" if need <= free // 2 else "stream"

    # -- position ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The position in the data: epoch, batches consumed in it, its permutation and the generator state."""
        return {"epoch": self.epoch, "offset": self.offset, "perm": self.perm, "generator": self.generator.get_state(),
                "batch_size": self.batch_size, "size": len(self.data)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` (same data set and batch size)."""
        if state.get("size") != len(self.data) or state.get("batch_size") != self.batch_size:
            raise DataError(f"the checkpoint was trained on {state.get('size')} images in batches of "
                            f"{state.get('batch_size')}, this run has {len(self.data)} in batches of "
                            f"{self.batch_size}; resume with the same data set and batch size")
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])
        self.perm, self._perm_dev, self._iter = state["perm"], None, None
        self.generator.set_state(state["generator"])

    # -- iteration --------------------------------------------------------------------------------------------
    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> Batch:
        if self.perm is None or self.offset >= self.batches_per_epoch:
            if self.perm is not None:
                self.epoch += 1
            self.perm = torch.randperm(len(self.data), generator=self.generator)
            self.offset, self._perm_dev, self._iter = 0, None, None
        if self.placement == "device":
            batch = self._device_batch(self.offset)
        else:
            if self._iter is None:
                self._iter = iter(self._loader())
            images, labels = next(self._iter)
            batch = Batch(to_unit_range(images.to(self.device, non_blocking=True)),
                          labels.to(self.device, non_blocking=True))
        self.offset += 1
        return batch

    def _indices(self, k: int) -> torch.Tensor:
        start = k * self.batch_size + self.rank * self.local
        assert self.perm is not None
        return self.perm[start:start + self.local]

    def _device_batch(self, k: int) -> Batch:
        if self._perm_dev is None:
            assert self.perm is not None
            self._perm_dev = self.perm.to(self.device)
        start = k * self.batch_size + self.rank * self.local
        idx = self._perm_dev[start:start + self.local]
        return Batch(to_unit_range(self.images[idx]), self.labels[idx])

    def _loader(self) -> torch.utils.data.DataLoader:
        ds = _IndexBatches(self.data, [self._indices(k) for k in range(self.offset, self.batches_per_epoch)])
        # Its own generator: a DataLoader draws a worker seed per epoch, which must not move the global RNG.
        return torch.utils.data.DataLoader(ds, batch_size=None, shuffle=False, num_workers=self.workers,
                                           pin_memory=self.device.type == "cuda",
                                           generator=torch.Generator().manual_seed(self.epoch))


class _IndexBatches(torch.utils.data.Dataset):
    """Item i is the i-th index batch of the epoch, gathered from the host tensors."""

    def __init__(self, data: ImageData, batches: list[torch.Tensor]) -> None:
        self.images, self.labels, self.batches = data.images, data.labels, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.batches[i]
        return self.images[idx], self.labels[idx]
