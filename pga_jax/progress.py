"""Progress bars for long work in notebooks and scripts: training steps and FID features.

    train  120/500 [#####...............]  24% | 3.21 steps/s | ETA 1m58s | loss 0.0521

One text line on stderr, rewritten in place (a carriage return) in a terminal or a notebook
(Jupyter and Colab render it as one line), or a plain line every `every_s` seconds when
stderr is a file (a script's log). No dependency beyond the standard library.

Who shows bars: `pga_jax.train(..., progress=True)` and `Run.fid(..., progress=True)` (the
Python API) show them, and so does FID feature extraction in a notebook; the command lines
keep their absl log lines instead (steps/s and ETA every `log_every` steps). `shown(False)`
silences every bar inside it, `shown(True)` shows them (e.g. around `score.compute_stats`
in a script).
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from collections.abc import Callable, Iterator

_SHOWN: contextvars.ContextVar[bool | None] = contextvars.ContextVar("pga_jax_bars", default=None)
_OPEN: list = []  # the bar whose line is on screen without its newline yet


def in_notebook() -> bool:
    """Whether this process is a Jupyter / Colab kernel."""
    if "google.colab" in sys.modules:
        return True
    kernel_app = sys.modules.get("ipykernel.kernelapp")
    app = getattr(kernel_app, "IPKernelApp", None)
    return bool(app is not None and app.initialized())


def showing() -> bool:
    """Whether work that can show a bar shows one here: as `shown(...)` says, else in a
    notebook only."""
    value = _SHOWN.get()
    return in_notebook() if value is None else value


@contextlib.contextmanager
def shown(enabled: bool = True) -> Iterator[None]:
    """Bars on (or off) for the work inside."""
    token = _SHOWN.set(bool(enabled))
    try:
        yield
    finally:
        _SHOWN.reset(token)


def format_duration(seconds: float) -> str:
    """12m05s, or 2h07m from an hour on."""
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Bar:
    """A progress line: what, done/total, a bar, percent, rate, ETA and a note (the last loss).

    The rate is measured from the first update on (compiling happens before it) and leaves
    out work done before the bar started (`start`: a resumed run's steps, reused features).

    Args:
      total: units in all (the run's last step, images).
      what: the line's first word.
      unit: what is counted ("steps", "images").
      start: units already done when the bar starts.
      stream: where the line goes (default: sys.stderr at each write).
      interactive: rewrite one line in place (default: a terminal or a notebook).
      every_s: at most one line per this many seconds (default: 0.5 in place, else 30); the
        last update (done == total) and `close` always write.
      clock: seconds, monotonic (tests pass a fake one).
    """

    WIDTH = 20

    def __init__(
        self,
        total: int,
        what: str = "train",
        unit: str = "steps",
        *,
        start: int = 0,
        stream=None,
        interactive: bool | None = None,
        every_s: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.total, self.what, self.unit = int(total), what, unit
        self.start = self.done = int(start)
        self._stream = stream
        if interactive is None:
            isatty = getattr(self.stream, "isatty", lambda: False)
            interactive = bool(isatty()) or in_notebook()
        self.interactive = interactive
        self.every_s = (0.5 if interactive else 30.0) if every_s is None else float(every_s)
        self.clock = clock
        self.note = ""
        self._first: tuple[int, float] | None = None  # (done, time) at the first update
        self._last_write = None
        self._written_done = None  # `done` as last written
        self.closed = False

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    def rate(self, now: float) -> float | None:
        if self._first is None or self.done <= self._first[0] or now <= self._first[1]:
            return None
        return (self.done - self._first[0]) / (now - self._first[1])

    def line(self, now: float) -> str:
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(self.WIDTH * min(frac, 1.0)))
        width = len(f"{self.total:,}")
        parts = [
            f"{self.what} {self.done:>{width},}/{self.total:,} "
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {100 * frac:3.0f}%"
        ]
        rate = self.rate(now)
        if rate is None:
            parts.append(f"? {self.unit}/s")
        else:
            parts.append(f"{rate:.3g} {self.unit}/s")
            if self.done < self.total:
                parts.append(f"ETA {format_duration((self.total - self.done) / rate)}")
        if self.done >= self.total and self._first is not None:
            parts.append(f"in {format_duration(now - self._first[1])}")
        if self.note:
            parts.append(self.note)
        return " | ".join(parts)

    def update(self, done: int, note: str | None = None) -> None:
        """Sets the units done (and the note, e.g. "loss 0.0521"); writes when due."""
        now = self.clock()
        if self._first is None:
            self._first = (int(done), now)
        self.done = int(done)
        if note is not None:
            self.note = note
        due = self._last_write is None or now - self._last_write >= self.every_s
        if due or self.done >= self.total:
            self._write(now)

    def _write(self, now: float, end: str = "") -> None:
        if self.closed:
            return
        self._last_write, self._written_done = now, self.done
        text = self.line(now)
        if self.interactive:
            if _OPEN and _OPEN[0] is not self:  # another bar's line stays as it was
                self.stream.write("\n")
            _OPEN[:] = [] if end else [self]
            self.stream.write(f"\r{text}{end}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Writes the final line (ended by a newline); later updates write nothing."""
        if self.closed:
            return
        if self._first is not None and (self.interactive or self._written_done != self.done):
            self._write(self.clock(), end="\n")
        self.closed = True


class Quiet:
    """A bar that shows nothing (progress off)."""

    note = ""

    def update(self, done: int, note: str | None = None) -> None:
        pass

    def close(self) -> None:
        pass
