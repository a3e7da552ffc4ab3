"""Facts about the machine and the software a result was measured with."""
from __future__ import annotations

import platform
import re
from importlib import metadata
from typing import Any

import torch

from ganzoo.errors import ConfigError

__all__ = ["PACKAGES", "cpu_name", "describe", "resolve_device"]

#: What ``--device`` accepts besides ``auto``.
_DEVICE_RE = re.compile(r"cpu|cuda(:[0-9]+)?")
# Device types torch knows that ganzoo does not support (named in the error instead of "use auto, cpu, ...").
_OTHER_DEVICES = {"mps", "xpu", "meta", "hip", "xla", "ipu", "mtia", "hpu", "vulkan", "privateuseone", "mkldnn",
                  "opengl", "opencl", "ideep", "ve", "fpga", "maia", "lazy"}

PACKAGES = ("ganzoo", "torch", "torchvision", "torchmetrics", "pluggy", "numpy")


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU; ``cpu``, ``cuda``, ``cuda:N`` as given; anything else a ConfigError."""
    accepted = "use auto, cpu, cuda or cuda:N"
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not _DEVICE_RE.fullmatch(device):
        kind = device.split(":", 1)[0] if isinstance(device, str) else ""
        if kind in _OTHER_DEVICES:
            raise ConfigError(f"--device {device!r}: {kind} is not supported by ganzoo yet; {accepted}")
        raise ConfigError(f"--device {device!r}: {accepted}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(f"--device {device}: this machine has {count} CUDA device{'s' if count != 1 else ''} "
                          f"(cuda:0 to cuda:{count - 1}); pick one of them or use --device cuda")
    return dev


def describe(device: torch.device | str | None = None) -> dict[str, Any]:
    """Package versions, Python, platform, CPU/GPU names and the device used."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    dev = torch.device(device) if device is not None else resolve_device("auto")
    info: dict[str, Any] = {
        "packages": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "device": str(dev),
        "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
    }
    return info
