"""The run folder: the only code that writes into one, but for loggers' own folders (``tensorboard/``). What it
promises:

- one writer at a time: an exclusive lock (``.lock`` holds the writer's pid; the OS drops it when the process dies,
  so a stale lock is simply taken over);
- no symbolic link inside it is ever followed: one there is refused with the link named;
- every file is written atomically (``ganzoo.files.atomic_write``); a failed write leaves no temporary file, names
  the path and keeps every earlier checkpoint;
- pruning keeps the newest K checkpoints *that load*, by step, never the file just written nor the last good one,
  and never deletes a file it could not read (a damaged file is evidence, not garbage);
- a run that fails before its first step leaves the folder as it found it: the ``config.yaml`` and ``.lock`` it made
  are removed (and the folder, when the run made it); nothing that was there before is.

Layout: ``config.yaml``, ``metrics.jsonl`` (written for the ``jsonl`` logger; cleared and cut here whichever loggers
run), ``samples/step-*.png`` (and ``samples/progress.gif``), ``checkpoints/step-*.pt``, ``.lock``, and a logger's
own folder (``tensorboard/``).
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import yaml

from ganzoo.checkpoint import CHECKPOINT_DIR, checkpoint_path, list_checkpoints, read_checkpoint, save_checkpoint
from ganzoo.errors import CheckpointError, ConfigError, TrainingError
from ganzoo.files import atomic_write, is_temporary, os_fix, os_reason

__all__ = ["CONFIG_FILE", "LOCK_FILE", "METRICS_FILE", "PROGRESS_FILE", "RunDir", "SAMPLES_DIR"]

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
#: The animation of the sample grids, written when a run ends or is stopped (``samples/progress.gif``).
PROGRESS_FILE = "progress.gif"
LOCK_FILE = ".lock"
_ENTRIES = (CONFIG_FILE, METRICS_FILE, SAMPLES_DIR, CHECKPOINT_DIR, LOCK_FILE)


class RunDir:
    """One run folder. Writes happen only on the main process (``main=False``: every write is a no-op)."""

    def __init__(self, path: str | os.PathLike, *, main: bool = True, model: str | None = None) -> None:
        self.path = Path(path)
        self.main = main
        #: The run's model: a checkpoint of another model is foreign (never counted, never deleted).
        self.model = model
        self._lock_fd: int | None = None
        self._created = False  # this process made the folder
        self._found: set[str] = set()  # the folder's own entries when the lock was taken (never removed)
        self._good: set[Path] = set()  # checkpoints known to load (written or read by this process)
        self._bad: set[Path] = set()  # damaged or foreign ones

    # -- paths --------------------------------------------------------------------------------------------------
    @property
    def checkpoints_dir(self) -> Path:
        """``checkpoints/``."""
        return self.path / CHECKPOINT_DIR

    @property
    def samples_dir(self) -> Path:
        """``samples/``."""
        return self.path / SAMPLES_DIR

    def checkpoints(self) -> list[Path]:
        """The checkpoint files, oldest step first."""
        return list_checkpoints(self.path)

    def holds_run(self) -> bool:
        """True when the folder already holds checkpoints of a run."""
        return bool(self.checkpoints())

    # -- the lock -----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator["RunDir"]:
        """Hold the run folder's exclusive lock (a second writer gets a ConfigError naming this process's pid)."""
        if not self.main:
            yield self
            return
        self.acquire()
        try:
            yield self
        finally:
            self.release()

    def acquire(self) -> None:
        """Take the lock, creating the folder if needed."""
        import fcntl  # POSIX only; imported here so that the module loads anywhere

        self._created = not self.path.exists()
        self._found = set() if self._created or not self.path.is_dir() else {p.name for p in self.path.iterdir()}
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.refuse_links()
            fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot write the run folder {self.path}: {os_reason(exc)}; pass a writable --out")\
                from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise ConfigError(f"{self.path} is in use by process {holder} (another 'ganzoo train' on the same run "
                              "folder); wait for it to finish, stop it, or pass another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def release(self) -> None:
        """Drop the lock; of a run that wrote nothing but ``config.yaml``, remove what it made (see the module)."""
        if self._lock_fd is None:
            return
        os.close(self._lock_fd)
        self._lock_fd = None
        with contextlib.suppress(OSError):
            made = [p for p in self.path.iterdir() if p.name not in self._found]
            if any(p.name not in (CONFIG_FILE, LOCK_FILE) or p.is_symlink() or not p.is_file() for p in made):
                return  # the run wrote metrics, samples or checkpoints: it is a run
            for p in made:
                p.unlink()
            if self._created:
                self.path.rmdir()  # only when empty: nothing else was put there meanwhile

    # -- safety -------------------------------------------------------------------------------------------------
    def refuse_links(self) -> None:
        """Refuse a symbolic link among the run folder's own entries and inside its samples and checkpoints (once,
        when the lock is taken; each write then checks only its own path)."""
        if not self.path.is_dir():
            return
        paths = [self.path / name for name in _ENTRIES]
        for folder in (self.samples_dir, self.checkpoints_dir):
            if folder.is_dir() and not folder.is_symlink():
                paths += list(folder.iterdir())
        self._refuse_link(*paths)

    @staticmethod
    def _refuse_link(*paths: Path) -> None:
        for p in paths:
            if p.is_symlink():
                raise ConfigError(f"{p} is a symbolic link (to {os.readlink(p)}); ganzoo never writes through a link "
                                  "in a run folder. Replace it with a real file or folder, or pass another --out")

    # -- starting -----------------------------------------------------------------------------------------------
    def start_fresh(self, config: dict[str, Any]) -> None:
        """Clear a previous run's checkpoints, samples and metrics, and write ``config.yaml``."""
        if not self.main:
            return
        with self._writing(self.path):
            for p in self.checkpoints():
                p.unlink()
            for p in self.samples_dir.glob("step-*.png") if self.samples_dir.is_dir() else []:
                p.unlink()
            (self.samples_dir / PROGRESS_FILE).unlink(missing_ok=True)
            (self.path / METRICS_FILE).unlink(missing_ok=True)
            self._write_config(config)

    def continue_at(self, step: int, config: dict[str, Any]) -> None:
        """Resuming at ``step``: drop metrics logged after it (they will be logged again); rewrite ``config.yaml``."""
        if not self.main:
            return
        path = self.path / METRICS_FILE
        with self._writing(path):
            if path.is_file():
                keep = []
                for line in path.read_text(encoding="utf-8").splitlines():
                    try:
                        if json.loads(line)["step"] <= step:
                            keep.append(line)
                    except (ValueError, KeyError, TypeError):
                        continue
                atomic_write(path, "".join(f"{line}\n" for line in keep))
            self._write_config(config)

    def _write_config(self, config: dict[str, Any]) -> None:
        atomic_write(self.path / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False))

    # -- resuming -----------------------------------------------------------------------------------------------
    def mark(self, path: Path, good: bool) -> None:
        """Record whether ``path`` loads into this run's model (pruning counts only the good ones)."""
        (self._good if good else self._bad).add(Path(path))

    # -- writing during training ------------------------------------------------------------------------------
    def write_checkpoint(self, payload: dict[str, Any], step: int, keep: int) -> Path:
        """Write the checkpoint of ``step`` atomically, then prune to the newest ``keep`` that load."""
        path = checkpoint_path(self.path, step)
        if not self.main:
            return path
        self._refuse_link(path.parent, path)
        save_checkpoint(payload, path)
        self._good.add(path)
        self.prune(keep, newest=path)
        return path

    def prune(self, keep: int, newest: Path | None = None) -> list[Path]:
        """Delete all but the newest ``keep`` loadable checkpoints (by step) and temporary files of killed writes."""
        files = self.checkpoints()
        doomed = [p for p in self.checkpoints_dir.iterdir() if is_temporary(p) and p.name.startswith(".step-")
                  and not p.name.endswith(f".tmp{os.getpid()}")] if self.checkpoints_dir.is_dir() else []
        kept = 0
        for path in reversed(files):
            if not self._loads(path):
                continue  # damaged or foreign: neither kept nor deleted
            kept += 1
            if kept > max(keep, 1) and path != newest:
                doomed.append(path)
        for p in doomed:
            with contextlib.suppress(OSError):
                p.unlink()
            self._good.discard(p)
        return doomed

    def _loads(self, path: Path) -> bool:
        if path not in self._good and path not in self._bad:
            try:
                blob = read_checkpoint(path)
                ours = self.model is None or blob["config"].get("model") == self.model
            except (CheckpointError, AttributeError):
                ours = False
            (self._good if ours else self._bad).add(path)
        return path in self._good

    def log(self, record: dict[str, Any]) -> None:
        """Append one line to ``metrics.jsonl`` (never through a link)."""
        if not self.main:
            return
        path = self.path / METRICS_FILE
        line = (json.dumps(record, allow_nan=True) + "\n").encode("utf-8")
        with self._writing(path, TrainingError):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def write_samples(self, step: int, save: Callable[[Path], Any]) -> Path:
        """Write the sample grid of ``step`` with ``save(path)`` (an atomic PNG writer)."""
        return self.write_picture(f"step-{step:08d}.png", save)

    def write_picture(self, name: str, save: Callable[[Path], Any]) -> Path:
        """Write ``samples/NAME`` with ``save(path)`` (an atomic writer), never through a link."""
        path = self.samples_dir / name
        if not self.main:
            return path
        self._refuse_link(path.parent, path)
        with self._writing(path, TrainingError):
            save(path)
        return path

    @contextlib.contextmanager
    def _writing(self, path: Path, error: type[Exception] = ConfigError) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise error(f"cannot write {path}: {os_reason(exc)}. {os_fix(exc)}") from None
