"""Progress lines: at most one per interval, the last always, rate and ETA from a fake clock."""

from pga_jax.fid import progress


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_lines_are_rate_limited_and_the_rate_leaves_out_reused_work():
    clock, lines = FakeClock(), []
    bar = progress.Progress(1000, "features", lines.append, every_s=60, start=200, clock=clock)
    clock.t += 30
    bar.update(400)  # 30 s after the start: too soon
    assert lines == []
    clock.t += 30
    bar.update(500)  # 300 images in 60 s = 5/s, 500 left = 100 s
    assert lines == ["features 500/1,000 (50%), 5.0 images/s, ETA 1m40s"]
    clock.t += 10
    bar.update(1000)  # the last update always logs
    assert lines[-1] == "features 1,000/1,000 (100%), 11.4 images/s, ETA 0m00s"


def test_format_duration():
    assert progress.format_duration(0) == "0m00s"
    assert progress.format_duration(725.4) == "12m05s"
    assert progress.format_duration(2 * 3600 + 7 * 60 + 59) == "2h07m"
