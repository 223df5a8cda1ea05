"""Kill drill: `kill -9` a smoke training run at random moments, resume it, compare the result.

    python -m benchmarks.kill_drill [--kills=8] [--steps=12] [--seed=0] [--budget_s=900]

First trains an uninterrupted reference run (`experiments/mnist_lpga.py:smoke`, `--steps`
steps, a checkpoint every 2). Then, for each of `--kills` trials, starts the same command in a
fresh workdir, sends SIGKILL after a random delay (from start-up to past the final save), and
runs the same command again until it finishes. Each finished run's parameters, BatchNorm
statistics, optimiser state and rng are compared leaf by leaf with the reference. Prints one
line per trial and "N/N bit-identical", with the most steps any kill lost (steps trained
before the kill that the resumed run had to train again). Run by hand, not in CI; the whole
drill stops at `--budget_s`.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

from pga_jax import workdirs  # no JAX: the runs are subprocesses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "experiments/mnist_lpga.py:smoke"


def command(workdir: str, steps: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pga_jax.main",
        f"--config={CONFIG}",
        f"--workdir={workdir}",
        f"--config.num_steps={steps}",
        "--config.checkpoint_every=2",
        "--config.log_every=1",
    ]


def run(workdir: str, steps: int, kill_after: float | None = None) -> tuple[int, float]:
    """(return code, seconds); SIGKILL after `kill_after` seconds if it is still running."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    t0 = time.time()
    proc = subprocess.Popen(
        command(workdir, steps),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return proc.returncode, time.time() - t0


def final_leaves(workdir: str):
    """Every leaf of the run's latest checkpoint (params, BatchNorm statistics, optimiser
    state, rng, step) and its step."""
    import jax
    import numpy as np

    from pga_jax import evaluate

    restored = evaluate.load_run(workdir)
    return [np.asarray(x) for x in jax.tree.leaves(restored.state)], restored.step


def logged_steps(workdir: str) -> int:
    from pga_jax import curves

    try:
        return max(curves.read_metrics(workdir), default=0)
    except FileNotFoundError:
        return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=8)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget_s", type=float, default=900.0)
    args = p.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import numpy as np

    rng = random.Random(args.seed)
    t_start = time.time()
    root = tempfile.mkdtemp(prefix="pga_jax_kill_drill_")
    ref_dir = os.path.join(root, "reference")
    code, ref_s = run(ref_dir, args.steps)
    if code != 0:
        print(f"the reference run failed (exit {code})")
        return 1
    reference, _ = final_leaves(ref_dir)
    print(f"reference: {args.steps} steps in {ref_s:.1f} s ({root})")
    identical, worst_lost, done = 0, 0, 0
    for trial in range(args.kills):
        if time.time() - t_start > args.budget_s:
            print(f"budget of {args.budget_s:.0f} s spent after {done} trials")
            break
        workdir = os.path.join(root, f"trial{trial}")
        delay = rng.uniform(0.5, ref_s * 1.05)
        code, _ = run(workdir, args.steps, kill_after=delay)
        trained = logged_steps(workdir)
        saved = workdirs.latest_checkpoint_step(workdir) or 0
        for _ in range(3):  # resume until it finishes (a kill during start-up leaves nothing)
            code, _ = run(workdir, args.steps)
            if code == 0:
                break
        if code != 0:
            print(f"trial {trial}: killed at {delay:.1f} s, the resumed run failed (exit {code})")
            done += 1
            continue
        leaves, step = final_leaves(workdir)
        same = len(leaves) == len(reference) and all(
            a.dtype == b.dtype and np.array_equal(a, b)
            for a, b in zip(leaves, reference, strict=True)
        )
        lost = max(0, trained - saved)  # trained before the kill, after its last checkpoint
        worst_lost = max(worst_lost, lost)
        identical += same
        done += 1
        print(
            f"trial {trial}: killed at {delay:.1f} s after {trained} logged steps (checkpoint "
            f"{saved}); resumed to step {step}: {'bit-identical' if same else 'DIFFERENT'}"
        )
    print(f"{identical}/{done} bit-identical; at most {worst_lost} trained step(s) lost to a kill")
    return 0 if identical == done else 1


if __name__ == "__main__":
    sys.exit(main())
