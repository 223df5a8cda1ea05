"""Goldens for refactors: parameters and metrics after 5 smoke steps of every objective x arch.

    python tools/goldens.py record --out=before.npz
    (refactor)
    python tools/goldens.py record --out=after.npz
    python tools/goldens.py compare before.npz after.npz [--rename=terms/vr:lvpga=terms/log_vr]

Each run is the experiment `<dataset>_<objective>.py:smoke` with the architecture set and
`num_steps=5`, trained by `training.train_and_evaluate` in a temporary workdir (the whole loop:
data order, warm-up, checkpoints, metric files). Recorded per run: every leaf of the final
params, BatchNorm statistics and optimiser state, and every logged metric at every logged step.
`compare` prints, per run, whether all leaves are bit-identical and else the largest absolute
and relative difference, and exits 1 if any run differs beyond --rtol.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

PREFIX = {"conv_mnist": "mnist", "conv_32": "cifar", "conv_64": "celeba", "resnet_32": "cifar"}
OBJECTIVES = ("vae", "lpga", "vpga", "lvpga")


def record(out: str) -> None:
    from absl import logging

    from pga_jax import configs, curves, training

    logging.set_verbosity(logging.WARNING)
    arrays = {}
    for objective in OBJECTIVES:
        for arch, prefix in PREFIX.items():
            config = configs.load_experiment(f"{prefix}_{objective}", "smoke")
            config.model.arch = arch
            config.num_steps = 5
            with tempfile.TemporaryDirectory() as workdir:
                state = training.train_and_evaluate(config, workdir)
                metrics = curves.read_metrics(workdir)
            run = f"{objective}/{arch}"
            tree = {"params": state.params, "batch_stats": state.batch_stats}
            tree["opt_state"] = state.opt_state
            for path, leaf in jax.tree_util.tree_leaves_with_path(jax.device_get(tree)):
                arrays[f"{run}|{jax.tree_util.keystr(path)}"] = np.asarray(leaf)
            for step, row in metrics.items():
                for key, value in row.items():
                    arrays[f"{run}|metrics/{step}/{key}"] = np.asarray(value)
            print(run, "recorded", flush=True)
    np.savez(out, **arrays)
    print(f"wrote {len(arrays)} arrays to {out}")


def compare(a_path: str, b_path: str, renames: list[str], rtol: float) -> int:
    a, b = dict(np.load(a_path)), dict(np.load(b_path))
    for d in (a, b):  # the logged speed is a measurement, not a result
        for key in [k for k in d if k.endswith("/steps_per_sec")]:
            del d[key]
    for rename in renames:  # old:objective=new, e.g. terms/vr:lvpga=terms/log_vr
        old_obj, new = rename.split("=")
        old, objective = old_obj.split(":")
        for key in list(a):
            if key.startswith(f"{objective}/") and key.endswith(f"/{old}"):
                a[key[: -len(old)] + new] = a.pop(key)
    runs = sorted({k.split("|")[0] for k in a} | {k.split("|")[0] for k in b})
    status = 0
    for run in runs:
        keys_a = {k for k in a if k.startswith(run + "|")}
        keys_b = {k for k in b if k.startswith(run + "|")}
        if keys_a != keys_b:
            print(
                f"{run}: different leaves: only before {sorted(keys_a - keys_b)[:4]}, "
                f"only after {sorted(keys_b - keys_a)[:4]}"
            )
            status = 1
            continue
        identical, worst_abs, worst_rel, worst_key = True, 0.0, 0.0, ""
        for k in sorted(keys_a):
            x, y = a[k].astype(np.float64), b[k].astype(np.float64)
            if not np.array_equal(x, y):
                identical = False
                d = float(np.max(np.abs(x - y)))
                rel = d / max(float(np.max(np.abs(x))), 1e-30)
                if rel > worst_rel:
                    worst_abs, worst_rel, worst_key = d, rel, k.split("|")[1]
        if identical:
            print(f"{run}: bit-identical ({len(keys_a)} arrays)")
        else:
            print(f"{run}: max abs diff {worst_abs:.3g}, rel {worst_rel:.3g} at {worst_key}")
            status |= worst_rel > rtol
    return int(status)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("before")
    c.add_argument("after")
    c.add_argument("--rename", action="append", default=[])
    c.add_argument("--rtol", type=float, default=1e-5)
    args = p.parse_args()
    if args.cmd == "record":
        record(args.out)
        return 0
    return compare(args.before, args.after, args.rename, args.rtol)


if __name__ == "__main__":
    sys.exit(main())
