"""The training loop. It builds nothing: it is handed the model, the batches and the periodic events (log, sample,
checkpoint, callback as ``Event(every, action)``), and it runs::

    while not done:
        losses = model.train_step(next(batches), step); step += 1
        check the losses; agree with the other ranks on stopping
        run every event whose period divides the step

then the end events (or, after Ctrl-C/SIGTERM, the stop events: the log line and the checkpoint).
"""
from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, NoReturn

import torch

from ganzoo import distributed
from ganzoo.guard import checked_losses, plugin_call
from ganzoo.interrupts import StopRequests
from ganzoo.model import Batch, GenerativeModel

__all__ = ["Clock", "Event", "LossWatch", "Outcome", "Trainer"]


@dataclass
class Event:
    """``action(step)`` every ``every`` steps (0: never periodically), and after the last step if ``at_end``, and
    when a signal stops the run early if ``on_stop``."""

    every: int
    action: Callable[[int], None]
    at_end: bool = False
    on_stop: bool = False


@dataclass
class Outcome:
    """How the loop ended: the step reached, training seconds, the signal that stopped it (None: it finished)."""

    step: int
    steps_trained: int
    wall_seconds: float
    signum: int | None


class Trainer:
    """Runs ``model.train_step`` over ``batches`` from ``start_step`` until ``steps`` or ``max_seconds`` (training time
    over resumes: ``wall_before`` is what earlier runs spent) or a stop request."""

    def __init__(self, model: GenerativeModel, batches: Iterator[Batch], *, events: list[Event], steps: int | None,
                 max_seconds: float | None = None, start_step: int = 0, wall_before: float = 0.0,
                 autocast: contextlib.AbstractContextManager | None = None, stop: StopRequests | None = None,
                 ctx: distributed.Context | None = None, on_step: Callable[[int], None] | None = None,
                 fail: Callable[[tuple[int, str, float]], NoReturn], warmup_steps: int = 0) -> None:
        self.model, self.batches, self.events = model, batches, events
        self.steps, self.max_seconds = steps, max_seconds
        self.step, self.wall_before = start_step, wall_before
        self.autocast = autocast if autocast is not None else contextlib.nullcontext()
        self.stop = stop if stop is not None else StopRequests()
        self.ctx = ctx if ctx is not None else distributed.Context()
        self.on_step, self.fail = on_step, fail
        #: The first steps timed apart (``torch.compile`` compiles in them) and their seconds.
        self.warmup_steps, self.warmup_seconds = warmup_steps, 0.0
        self.watch = LossWatch()
        self.clock = Clock()
        self._last_log = (start_step, 0.0)
        self._eager = next(model.parameters(), torch.empty(0)).device.type != "cuda"  # CUDA: no per-step sync

    def wall_seconds(self) -> float:
        """Training time of the run so far, earlier resumes included."""
        return self.wall_before + self.clock.elapsed()

    def run(self) -> Outcome:
        """Train until done or stopped, running the events; returns how it ended."""
        model, start = self.model, self.step
        self.clock = Clock()
        self._last_log = (start, 0.0)
        model.train()
        stopped = not self.ctx.enabled and self.stop.requested
        done = self._done(self.max_seconds is not None and self.wall_before >= self.max_seconds)
        while not done and not stopped:
            batch = next(self.batches)
            warming = self.step - start < self.warmup_steps
            t0 = time.perf_counter()
            with self.clock.paused() if warming else contextlib.nullcontext(), self.autocast, \
                    plugin_call(model, "train_step"):
                losses = model.train_step(batch, self.step)
            if warming:
                self.warmup_seconds += time.perf_counter() - t0
            self.step += 1
            model.update_ema(self.step)
            self.watch.add(self.step, checked_losses(model, losses, self.step))
            stopped, time_up = self._agree()
            if self.on_step is not None:
                self.on_step(self.step)
            done = self._done(time_up)
            if not done and not stopped:
                self._events(lambda e: e.every > 0 and self.step % e.every == 0)
                stopped = not self.ctx.enabled and self.stop.requested  # a signal while writing
        wall = self.clock.elapsed()
        self._events(lambda e: e.on_stop) if stopped else self._events(lambda e: e.at_end)
        return Outcome(self.step, self.step - start, wall, self.stop.signum if stopped else None)

    def metrics(self, step: int, batch_size: int, epoch: int) -> dict[str, Any]:
        """The metrics.jsonl record of ``step``: mean losses since the last record, images/s and time."""
        now = self.clock.elapsed()
        last_step, last_time = self._last_log
        ips = (step - last_step) * batch_size / max(now - last_time, 1e-9)
        self._last_log = (step, now)
        return {"step": step, "epoch": epoch, "losses": self.watch.means(), "images_per_second": round(ips, 2),
                "wall_seconds": round(self.wall_before + now, 3)}

    def _time_up(self) -> bool:
        return self.max_seconds is not None and self.wall_seconds() >= self.max_seconds

    def _done(self, time_up: bool) -> bool:
        return (self.steps is not None and self.step >= self.steps) or time_up

    def _agree(self) -> tuple[bool, bool]:
        """(stop, time up) for this step; under DDP every rank takes the same decision, or collectives would hang."""
        time_up = self._time_up()
        if self.ctx.enabled:
            stop, time_up, bad = distributed.any_flag(self.ctx, self.stop.requested, time_up, self.watch.bad_now())
            if bad:
                self.fail(self.watch.first_bad() or (self.step, "?", float("nan")))
            if stop and self.stop.signum is None:
                self.stop.signum = signal.SIGINT  # another rank was signalled: stop like Ctrl-C
            return stop, time_up
        if self._eager and self.watch.bad_now():
            self.fail(self.watch.first_bad())
        return self.stop.requested, time_up

    def _events(self, due: Callable[[Event], bool]) -> None:
        bad = self.watch.first_bad()
        if bad is not None:
            self.fail(bad)
        for event in self.events:
            if due(event):
                event.action(self.step)


class Clock:
    """Training time: wall time since the start, less the time spent in callbacks (scoring is not training)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.excluded = 0.0

    def elapsed(self) -> float:
        """Seconds of training so far."""
        return time.perf_counter() - self.start - self.excluded

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside does not count as training."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - t


class LossWatch:
    """Collects each step's losses: running means for the log, and the first non-finite value for the error."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.pending: list[tuple[int, list[str], torch.Tensor]] = []
        self.bad: tuple[int, str, float] | None = None

    def add(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        """Record one step's losses (already checked scalars, see ganzoo.guard.checked_losses)."""
        names = list(losses)
        device = next(iter(losses.values())).device
        values = torch.stack([v.to(device, torch.float32) for v in losses.values()])
        self.pending.append((step, names, values))
        for name, v in zip(names, values.unbind()):
            self.sums[name] = self.sums[name] + v if name in self.sums else v.clone()
            self.counts[name] = self.counts.get(name, 0) + 1

    def bad_now(self) -> bool:
        """True when the latest step's losses hold a NaN or an infinity (a host sync)."""
        if self.bad is not None:
            return True
        if not self.pending:
            return False
        ok = bool(torch.isfinite(self.pending[-1][2]).all())
        if not ok:
            self._find()
        else:
            self.pending.clear()
        return not ok

    def first_bad(self) -> tuple[int, str, float] | None:
        """(step, loss name, value) of the first non-finite loss since the last check, else None."""
        if self.bad is None and self.pending:
            self._find()
        return self.bad

    def _find(self) -> None:
        finite = torch.stack([torch.isfinite(v).all() for _, _, v in self.pending]).cpu()
        if not bool(finite.all()):
            i = int((~finite).nonzero()[0])
            step, names, values = self.pending[i]
            values = values.cpu()
            j = int((~torch.isfinite(values)).nonzero()[0])
            self.bad = (step, names[j], float(values[j]))
        self.pending.clear()

    def means(self) -> dict[str, float]:
        """Mean of each loss since the last call."""
        out = {k: float(self.sums[k]) / self.counts[k] for k in self.sums}
        self.sums.clear()
        self.counts.clear()
        return out
