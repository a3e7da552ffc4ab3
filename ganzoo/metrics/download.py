"""Evaluator weights on request: a file an evaluator declares (:class:`RemoteWeights`) is fetched with a progress bar,
checked against its SHA-256 and renamed into place, only when a user asks (``ganzoo evaluator download NAME``, or
``--download`` on ``eval`` and ``bench``).

The file is streamed into a temporary file beside its target and renamed only once its SHA-256 matches, so a failed,
cut-off or interrupted download leaves nothing behind. Every failure (no network, an HTTP error, a timeout, a cut-off
transfer, a wrong hash, a full or unwritable disk) is one :class:`EvaluatorError` naming the URL or the file and the fix.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)

from ganzoo.console import err_console
from ganzoo.errors import PluginError, UnknownNameError, did_you_mean
from ganzoo.files import atomic_write, os_reason
from ganzoo.metrics.errors import EvaluatorError
from ganzoo.registry import host

__all__ = [
    "TIMEOUT", "RemoteWeights", "download_weights", "ensure_weights", "hub_path", "missing_weights", "remote_weights",
    "verify_weights",
]

# The standard library's urllib, not requests or httpx: one GET of a public file needs no session, retries or
# HTTP/2, and ganzoo then adds no dependency (requests is installed here only as another package's dependency).

#: Seconds to wait for the connection and for each read before giving up.
TIMEOUT = 30.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteWeights:
    """A weights file an evaluator can fetch: from ``url`` (or ``$url_env``) to ``path``, with this SHA-256."""

    #: Where the file is published.
    url: str
    #: Where it is kept once downloaded (the torch hub cache for InceptionV3: :func:`hub_path`).
    path: Path
    #: Its hex SHA-256, or only the first hex digits when that is all that is known (torch hub's file names).
    sha256: str
    #: Environment variable that overrides ``url`` (a mirror; a test server).
    url_env: str = ""
    #: Other ways to supply the file by hand, for the error messages (e.g. "set $X to it").
    manual: str = ""

    def source(self, url: str | None = None) -> str:
        """The URL to fetch: ``url``, else ``$url_env``, else the published one."""
        return url or (os.environ.get(self.url_env) if self.url_env else None) or self.url

    def by_hand(self, url: str) -> str:
        """How to place the file without ganzoo's download."""
        other = f", or {self.manual}" if self.manual else ""
        return (f"On a machine with internet run 'curl -L -o {self.path.name} {url}' and copy the file to "
                f"{self.path}{other}.")


def hub_path(filename: str) -> Path:
    """Where torch hub keeps a downloaded weights file: ``<torch hub dir>/checkpoints/<filename>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _factory(name: str) -> Any:
    table = host().table("evaluators")
    if name not in table:
        raise UnknownNameError(f"Unknown evaluator {name!r}.{did_you_mean(name, table)} Registered: "
                               f"{', '.join(sorted(table)) or '(none)'} ('ganzoo evaluator list').")
    return table[name]


def _ask(name: str, method: str, **options: Any) -> RemoteWeights | None:
    """A registered evaluator's own answer to ``method`` (None when its factory has no such method)."""
    entry = _factory(name)
    ask = getattr(entry.obj, method, None)
    if not callable(ask):
        return None
    try:
        remote = ask(**options)
    except TypeError as exc:
        raise EvaluatorError(f"evaluator {name!r}: bad options {sorted(options)}: {exc}; drop them") from None
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is named, never a traceback
        raise PluginError(f"evaluator {name!r} (plugin {entry.plugin!r}) raised in {method}(): "
                          f"{type(exc).__name__}: {exc}") from None
    if remote is not None and not isinstance(remote, RemoteWeights):
        raise PluginError(f"evaluator {name!r} (plugin {entry.plugin!r}): {method}() returned "
                          f"{type(remote).__name__}, not a ganzoo.metrics.download.RemoteWeights")
    return remote


def remote_weights(name: str) -> RemoteWeights:
    """The weights file the registered evaluator ``name`` downloads; an error when it declares none."""
    remote = _ask(name, "remote_weights")
    if remote is None:
        raise EvaluatorError(f"evaluator {name!r} has no weights file to download: it is ready as it is, or says "
                             "what it needs in 'ganzoo evaluator list'")
    return remote


def missing_weights(name: str, options: dict[str, Any] | None = None) -> RemoteWeights | None:
    """The weights file evaluator ``name`` still needs before it can be built with ``options`` (None: none)."""
    if name not in host().table("evaluators"):
        return None  # a fitted evaluator or a file: nothing to download; loading it says what is wrong
    return _ask(name, "missing_weights", **(options or {}))


def ensure_weights(name: str, options: dict[str, Any] | None = None, console: Console | None = None) -> Path | None:
    """Download the weights file evaluator ``name`` still needs (``--download``); its path, or None if none was."""
    remote = missing_weights(name, options)
    if remote is None:
        return None
    download_weights(remote, console=console)
    return remote.path


def _matches(digest: str, expected: str) -> bool:
    return bool(expected) and digest.startswith(expected.lower())


def verify_weights(remote: RemoteWeights) -> str:
    """The SHA-256 of the file already at ``remote.path``; an error when it is not the expected one."""
    h = hashlib.sha256()
    try:
        with open(remote.path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
    except OSError as exc:
        raise EvaluatorError(f"{remote.path} cannot be read ({os_reason(exc)}); delete it and download again "
                             "(--force)") from None
    digest = h.hexdigest()
    if not _matches(digest, remote.sha256):
        raise EvaluatorError(f"{remote.path} is there but its SHA-256 is {digest}, not {remote.sha256}: a damaged or "
                             "different file; replace it with --force (or delete it)")
    return digest


def download_weights(remote: RemoteWeights, *, url: str | None = None, console: Console | None = None) -> str:
    """Fetch ``remote`` (from ``url`` when given) into ``remote.path`` atomically; its SHA-256, checked."""
    src = remote.source(url)
    override = f"--url or ${remote.url_env}" if remote.url_env else "--url"
    if urllib.parse.urlsplit(src).scheme not in ("http", "https"):
        raise EvaluatorError(f"{src!r} is not an http(s) URL; pass one with {override}")
    request = urllib.request.Request(src, headers={"User-Agent": "ganzoo"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310 - http(s) only, checked above
    except urllib.error.HTTPError as exc:
        raise EvaluatorError(f"downloading {src} failed: HTTP {exc.code} {exc.reason}; check the URL ({override}) "
                             f"or place the file by hand. {remote.by_hand(src)}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise EvaluatorError(f"cannot reach {src} ({_reason(exc)}): no network, or the host is unreachable from "
                             f"here. {remote.by_hand(src)}") from None
    folder = remote.path.parent
    with response:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EvaluatorError(f"cannot make the folder {folder} for {remote.path.name} ({os_reason(exc)}); set "
                                 "TORCH_HOME to a writable folder, or place the file by hand: "
                                 f"{remote.by_hand(src)}") from None
        length = str(response.headers.get("Content-Length") or "").strip()
        size = int(length) if length.isdigit() and int(length) > 0 else None  # unknown: the hash still decides
        free = shutil.disk_usage(folder).free
        if size is not None and free < size:
            raise EvaluatorError(f"{remote.path.name} is {size:,} bytes but {folder} has {free:,} free; free disk "
                                 f"space or set TORCH_HOME to a folder on another disk")
        digest = ""

        def write(f: IO[bytes]) -> None:
            nonlocal digest
            digest = _stream(response, f, src, size, remote, console or err_console)

        try:
            atomic_write(remote.path, write)
        except OSError as exc:  # the disk (network errors are turned into EvaluatorError while streaming)
            raise EvaluatorError(f"cannot write {remote.path} ({os_reason(exc)}); free disk space or set "
                                 "TORCH_HOME to a writable folder; no partial file was left") from None
    return digest


def _stream(response: Any, f: IO[bytes], src: str, size: int | None, remote: RemoteWeights,
            console: Console) -> str:
    """Copy the response into ``f`` with a progress bar; its SHA-256, checked against the expected one."""
    h = hashlib.sha256()
    done = 0
    console.print(f"downloading {src} → {remote.path}", highlight=False, soft_wrap=True)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False)
    with progress:
        task = progress.add_task(remote.path.name, total=size)
        while True:
            try:
                chunk = response.read(_CHUNK)
            except http.client.IncompleteRead:  # the connection closed early: reported as cut off below
                break
            except (OSError, http.client.HTTPException) as exc:
                raise EvaluatorError(f"downloading {src} failed after {done:,} bytes ({_reason(exc)}); try again "
                                     f"(no partial file was left). {remote.by_hand(src)}") from None
            if not chunk:
                break
            f.write(chunk)
            h.update(chunk)
            done += len(chunk)
            progress.update(task, completed=done)
    if size is not None and done != size:
        raise EvaluatorError(f"downloading {src} was cut off after {done:,} of {size:,} bytes; try again (no partial "
                             f"file was left). {remote.by_hand(src)}")
    digest = h.hexdigest()
    if not _matches(digest, remote.sha256):
        raise EvaluatorError(f"the file from {src} has SHA-256 {digest}, not the expected {remote.sha256}: a damaged "
                             "download or a different file; try again, or check the mirror's URL (no file was kept)")
    return digest


def _reason(exc: BaseException) -> str:
    """The short reason of a network error ("Connection refused", "timed out")."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else Exception(str(exc.reason))
    if isinstance(exc, TimeoutError):
        return f"timed out after {TIMEOUT:g} s"
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return text or type(exc).__name__
