"""Progress bars (pga_jax/progress.py): one line rewritten in place where it can be (a
terminal, a notebook), plain lines every so often in a log file; rate and ETA from the first
update on (compiling comes before it), from a fake clock."""

import io

from pga_jax import progress


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_a_bar_rewrites_one_line_with_rate_eta_and_the_last_loss():
    clock, out = FakeClock(), io.StringIO()
    bar = progress.Bar(500, "train", "steps", start=100, stream=out, interactive=True, clock=clock)
    clock.t += 60  # compiling: before the first update, not in the rate
    bar.update(101)
    assert out.getvalue() == "\rtrain 101/500 [####................]  20% | ? steps/s"
    clock.t += 0.1
    bar.update(102)  # too soon after the last line
    assert out.getvalue().count("\r") == 1
    clock.t += 9.9
    bar.update(151, note="loss 0.0521")  # 50 steps in 10 s: 5 steps/s, 349 left
    assert out.getvalue().split("\r")[-1] == (
        "train 151/500 [######..............]  30% | 5 steps/s | ETA 1m10s | loss 0.0521"
    )
    clock.t += 69.8
    bar.update(500)  # the last step always writes; the note stays
    bar.close()
    assert out.getvalue().split("\r")[-1] == (
        "train 500/500 [####################] 100% | 5 steps/s | in 1m20s | loss 0.0521\n"
    )
    bar.update(500)  # closed: nothing more
    assert out.getvalue().endswith("loss 0.0521\n")


def test_in_a_log_file_a_bar_writes_whole_lines_now_and_then():
    clock, out = FakeClock(), io.StringIO()
    bar = progress.Bar(100, "FID features", "images", stream=out, interactive=False, clock=clock)
    assert bar.every_s == 30
    for i in range(1, 101):
        clock.t += 1
        bar.update(i)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split(" [")[0] for line in lines] == [
        "FID features   1/100",
        "FID features  31/100",
        "FID features  61/100",
        "FID features  91/100",
        "FID features 100/100",
    ]
    assert lines[2].endswith("| 1 images/s | ETA 0m39s")


def test_a_second_bar_starts_on_its_own_line():
    out = io.StringIO()
    train = progress.Bar(10, stream=out, interactive=True)
    train.update(3)
    fid = progress.Bar(4, "FID features", "images", stream=out, interactive=True)
    fid.update(4)
    fid.close()
    train.update(4)
    train.close()
    lines = out.getvalue().split("\n")
    assert lines[0].startswith("\rtrain  3/10") and lines[1].startswith("\rFID features 4/4")
    assert lines[2].startswith("\rtrain  4/10") and lines[-1] == ""


def test_bars_are_off_outside_notebooks_unless_shown():
    assert not progress.in_notebook()
    assert not progress.showing()
    with progress.shown():
        assert progress.showing()
        with progress.shown(False):
            assert not progress.showing()
    assert not progress.showing()
    quiet = progress.Quiet()
    quiet.update(3, note="x")
    quiet.close()


def test_format_duration():
    assert progress.format_duration(0) == "0m00s"
    assert progress.format_duration(725.4) == "12m05s"
    assert progress.format_duration(2 * 3600 + 7 * 60 + 59) == "2h07m"
