"""Progress lines for long feature extraction: done / total, images/s and ETA.

A 5,000-sample FID takes ~13 minutes of Inception forwards on a 2-core CPU and a dataset
split's reference statistics hours; both say how far they are, at most once per interval.
These are the command lines' log lines; the Python API and notebooks show the same numbers as
a bar (`pga_jax.progress.Bar`).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def format_duration(seconds: float) -> str:
    """12m05s, or 2h07m from an hour on."""
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """Logs "<what> done/total (pct), rate images/s, ETA" as `done` grows.

    Args:
      total: images in all.
      what: what is counted, first word of each line.
      log: where lines go (print, absl's logging.info, a list's append).
      every_s: at most one line per this many seconds (0: a line per update); the last
        update (done == total) always logs.
      start: images already done before timing began (reused work), left out of the rate.
      clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        total: int,
        what: str = "features",
        log: Callable[[str], None] = print,
        every_s: float = 60.0,
        start: int = 0,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.total, self.what, self.log, self.every_s = int(total), what, log, float(every_s)
        self.start, self.clock = int(start), clock
        self.t0 = self.last = clock()

    def update(self, done: int) -> None:
        now = self.clock()
        if done < self.total and now - self.last < self.every_s:
            return
        self.last = now
        rate = (done - self.start) / max(now - self.t0, 1e-9)
        eta = format_duration((self.total - done) / rate) if rate > 0 else "?"
        self.log(
            f"{self.what} {done:,}/{self.total:,} ({100 * done / max(self.total, 1):.0f}%), "
            f"{rate:.1f} images/s, ETA {eta}"
        )

    def close(self) -> None:
        """Nothing to end (each line is whole); as `pga_jax.progress.Bar.close`."""
