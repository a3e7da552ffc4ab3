"""Distributed training set-up from torchrun's environment: NCCL on GPUs, gloo on CPU, rank 0 does the writing.

``torchrun --nproc_per_node=4 -m ganzoo train dcgan`` (or across nodes with torchrun's ``--nnodes``/``--rdzv-*``
flags) sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; :func:`setup` reads them. Without
them (or with ``WORLD_SIZE=1``) everything here is a no-op and training runs in one process.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ganzoo.errors import ConfigError

__all__ = [
    "Context", "any_flag", "barrier", "env_world_size", "gather_objects", "same_on_all_ranks", "setup",
    "sync_buffers", "teardown", "unwrap", "unwrapped", "wrap_ddp",
]


@dataclass
class Context:
    """Where this process stands: its rank, the world size, its device and whether it set up the group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """True when training runs in several processes."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that logs and writes files."""
        return self.rank == 0


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when unset)."""
    return _env_int("WORLD_SIZE", 1, 1, 1 << 20)


def _env_int(name: str, default: int, low: int, high: int) -> int:
    """An integer torchrun variable within [low, high), else a ConfigError naming it."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value < high:
        raise ConfigError(f"{name}={raw!r} is not an integer from {low} to {high - 1}; launch with torchrun "
                          "(which sets it), or unset it")
    return value


def setup(device: torch.device) -> Context:
    """Join the process group torchrun describes (if any) and pick this rank's device.

    On CUDA each rank takes ``cuda:LOCAL_RANK`` and NCCL; on CPU gloo. A group set up by the caller is reused.
    """
    world = env_world_size()
    if world <= 1:
        return Context(device=device)
    _env_int("RANK", 0, 0, world)
    local_rank = _env_int("LOCAL_RANK", 0, 0, world)
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v) and not dist.is_initialized()]
    if missing:
        raise ConfigError(f"WORLD_SIZE={world} but {' and '.join(missing)} unset; launch with torchrun "
                          "--nproc_per_node=N -m ganzoo train ..., or unset WORLD_SIZE")
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s) are visible; "
                              "lower --nproc_per_node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    owns = False
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, **kwargs)
        owns = True
    return Context(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, device=device,
                   backend=dist.get_backend(), owns_group=owns)


def teardown(ctx: Context) -> None:
    """Leave the process group if :func:`setup` created it, once every rank got here.

    Call :func:`unwrap` on the model first: a DistributedDataParallel wrapper left alive holds the group, and gloo's
    threads then die with the interpreter (an abort at exit).
    """
    if ctx.owns_group and dist.is_initialized():
        gc.collect()
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def barrier(ctx: Context) -> None:
    """Wait for every rank (no-op in one process)."""
    if ctx.enabled:
        dist.barrier()


def wrap_ddp(ctx: Context) -> Callable[[nn.Module], nn.Module]:
    """The wrapper for ``GenerativeModel.wrap_networks``: DistributedDataParallel on this rank's device."""
    def wrap(net: nn.Module) -> nn.Module:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        return DistributedDataParallel(net, device_ids=ids)

    return wrap


def unwrap(model: nn.Module) -> None:
    """Put a model's DDP-wrapped networks back to the plain modules for good (the end of training)."""
    for attr, net in list(model.named_children()):
        if isinstance(net, DistributedDataParallel):
            setattr(model, attr, net.module)


def unwrapped(model: nn.Module) -> "_Unwrapped":
    """A context manager that puts a model's DDP-wrapped networks back to the plain modules for a while.

    Sampling through the plain modules on one rank sends nothing to the other ranks (DDP would broadcast buffers).
    """
    return _Unwrapped(model)


class _Unwrapped:
    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.saved: dict[str, nn.Module] = {}

    def __enter__(self) -> nn.Module:
        for attr, net in list(self.model.named_children()):
            if isinstance(net, DistributedDataParallel):
                self.saved[attr] = net
                setattr(self.model, attr, net.module)
        return self.model

    def __exit__(self, *exc: Any) -> None:
        for attr, net in self.saved.items():
            setattr(self.model, attr, net)


def sync_buffers(ctx: Context, model: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank, so all ranks hold the same model."""
    if not ctx.enabled:
        return
    for buf in model.buffers():
        dist.broadcast(buf.data, src=0)


def any_flag(ctx: Context, *flags: bool) -> list[bool]:
    """Each flag OR-ed over all ranks (so every rank takes the same decision); plain values in one process."""
    if not ctx.enabled:
        return list(flags)
    t = torch.tensor([float(f) for f in flags], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def gather_objects(ctx: Context, obj: Any) -> list[Any]:
    """``obj`` from every rank, in rank order (``[obj]`` in one process)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def same_on_all_ranks(ctx: Context, model: nn.Module) -> bool:
    """True when every rank holds bit-identical weights and buffers (a cheap checksum comparison)."""
    if not ctx.enabled:
        return True
    with torch.no_grad():
        flat = torch.cat([t.detach().double().flatten() for t in model.state_dict().values()
                          if t.is_floating_point()])
        sums = torch.stack([flat.sum(), (flat * torch.arange(1, flat.numel() + 1, dtype=flat.dtype,
                                                               device=flat.device)).sum()])
    everyone = [torch.zeros_like(sums) for _ in range(ctx.world_size)]
    dist.all_gather(everyone, sums)
    return all(torch.equal(everyone[0], s) for s in everyone[1:])
