"""The built-in experiment loggers: jsonl (metrics.jsonl, on by default) and tensorboard (``ganzoo[tensorboard]``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ganzoo import hookimpl
from ganzoo.errors import ConfigError, TrainingError
from ganzoo.files import os_fix, os_reason
from ganzoo.loggers import Logger
from ganzoo.rundir import RunDir

#: The tensorboard logger's folder in the run folder (``tensorboard --logdir RUN/tensorboard``).
TENSORBOARD_DIR = "tensorboard"
_INSTALL = "pip install 'ganzoo[tensorboard]'"


class JsonLines(Logger):
    """metrics.jsonl in the run folder: one JSON line per logged step, the losses under ``losses``."""

    name = "jsonl"

    def __init__(self) -> None:
        """Nothing to check: it needs only the standard library."""
        self.run: RunDir | None = None

    def start(self, run_dir: Path, config: dict[str, Any], step: int) -> None:
        """Append to ``run_dir``/metrics.jsonl (the run folder already dropped the lines after ``step``)."""
        self.run = RunDir(run_dir)

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """One line ``{"step": …, "epoch": …, "losses": {…}, …}``: a tag ``group/key`` goes under ``group``."""
        record: dict[str, Any] = {"step": step}
        for tag, value in values.items():
            group, _, key = tag.partition("/")
            if key:
                record.setdefault(group, {})[key] = value
            else:
                record[tag] = value
        self.run.log(record)


class TensorBoard(Logger):
    """TensorBoard event files in RUN/tensorboard: losses, images/s, sample grids, the FID curve, hyperparameters."""

    name = "tensorboard"

    def __init__(self) -> None:
        """Check that tensorboard is installed (the ``ganzoo[tensorboard]`` extra)."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(f"the tensorboard logger needs the tensorboard package, which is not installed: "
                              f"{_INSTALL} (or leave out --logger tensorboard)") from None
        self._writer_class: Callable[..., Any] = SummaryWriter
        self.writer: Any = None
        self.folder: Path | None = None
        self.start_step = self.step = 0

    def start(self, run_dir: Path, config: dict[str, Any], step: int) -> None:
        """Write into ``run_dir``/tensorboard from the first value on (a run that fails before it leaves nothing)."""
        self.folder, self.start_step, self.step = Path(run_dir) / TENSORBOARD_DIR, step, step

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Each value as a scalar under its tag."""
        writer = self._open()
        for tag, value in values.items():
            writer.add_scalar(tag, value, step)
        self.step = step

    def log_images(self, step: int, tag: str, image: np.ndarray) -> None:
        """The picture as a PNG image."""
        self._open().add_image(tag, image, step, dataformats="HWC")
        self.step = step

    def log_hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """The HParams dashboard's record of this run; its metrics are the scalars ``final/NAME``."""
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        plain = {k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v) for k, v in hparams.items()}
        final = {f"final/{k}": float(v) for k, v in metrics.items()}
        writer = self._open()
        for summary in hparams_summaries(plain, final):  # in this run, not in a sub-folder as add_hparams does
            writer.file_writer.add_summary(summary, self.step)
        for tag, value in final.items():
            writer.add_scalar(tag, value, self.step)

    def close(self) -> None:
        """Flush the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _open(self) -> Any:
        if self.writer is not None:
            return self.writer
        folder = self.folder
        if folder.is_symlink():
            raise ConfigError(f"{folder} is a symbolic link (to {folder.readlink()}); ganzoo never writes through a "
                              "link in a run folder. Replace it with a real folder, or pass another --out")
        try:
            if self.start_step == 0 and folder.is_dir():  # a fresh run: the events of the one it replaces go
                for old in folder.glob("events.out.tfevents.*"):
                    old.unlink()
            # A resumed run: TensorBoard drops what the earlier files hold from the step after its checkpoint on.
            self.writer = self._writer_class(str(folder), purge_step=self.start_step + 1 if self.start_step else None)
        except OSError as exc:
            raise TrainingError(f"cannot write {folder}: {os_reason(exc)}. {os_fix(exc)}") from None
        return self.writer


@hookimpl
def register_loggers(register: Callable[..., Any]) -> None:
    """Register the built-in loggers: jsonl and tensorboard."""
    register(JsonLines)
    register(TensorBoard)
