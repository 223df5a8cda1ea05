"""When two programs train the same run: the tolerances of the equivalence tests.

A population member and its single run, a batch split over devices or processes, a scan and one
step per call: each pair computes the same run with its sums in another order, so their
parameters differ by float32 rounding as the run amplifies it. The smoke runs amplify it a lot,
by an amount that depends on the bits (Adam's normalisation of near-zero gradient elements,
ReLU kinks, SGD at learning rate 0.2), so a tolerance is sound only if it holds for any two
float32 programs of the run: each lies within E of the exact run, so they differ by at most 2E.
`python tools/rounding_envelope.py` measures E as the float32 run's distance from the same run in
float64 (the largest |difference| of a leaf over that leaf's largest |value|, the worst of 4
data seeds; AMD EPYC Zen 5, jax 0.10.2, 2026-12-02; XLA's default convolutions | Eigen's):

    steps      mnist_vpga (Adam)     cifar_vpga (SGD, BatchNorm)   mnist_lpga (Adam)
    1          6.4e-6 | 6.4e-6       1.3e-3 | 1.3e-3               8.6e-7 | 2.8e-6
    2          4.1e-5 | 1.3e-4       1.2e-2 | 1.2e-2               2.2e-5 | 4.8e-5
    4          2.3e-3 | 6.6e-4       5.2e-2 | 5.2e-2               0.27   | 0.30
    8          2.6e-2 | 8.8e-5       7.9e-2 | 7.8e-2               1.4    | 34

and a run with another seed lies >= 1.96 away. So the tests compare a run's first steps closely
(`FIRST_STEPS`: at step 1 of cifar_vpga and mnist_lpga, step 2 of mnist_vpga, >= 4x above 2E)
and its end only as the same run (`SAME_RUN`: at step 4 of cifar_vpga and step 8 of
mnist_vpga, >= 3x above 2E and 6x below another seed); LPGA's end cannot be compared at all.
A closer tolerance holds only while two programs happen to round alike, as XLA:CPU's YNNPACK
convolutions mostly do across vmap, sharding and scan, and its Eigen ones (cpu/xla_options.py)
do not.
"""

import jax
import numpy as np

FIRST_STEPS = 1e-2  # after 1 or 2 steps (see above)
SAME_RUN = 0.3  # after 4 or 8 steps


def by_path(tree) -> dict:
    """{path: numpy array} of a pytree's leaves, the form the functions below compare."""
    return {
        jax.tree_util.keystr(p): np.asarray(v) for p, v in jax.tree_util.tree_leaves_with_path(tree)
    }


def _scaled(a: dict, b: dict) -> dict:
    assert a.keys() == b.keys()
    return {k: np.abs(a[k] - b[k]).max() / (np.abs(b[k]).max() + 1e-12) for k in a}


def scaled_difference(a: dict, b: dict) -> float:
    """The largest |a - b| of any leaf over that leaf's largest |b| ({path: array} dicts)."""
    return max(_scaled(a, b).values())


def assert_same_run(a: dict, b: dict, tolerance: float) -> None:
    scaled = _scaled(a, b)
    worst = max(scaled, key=scaled.get)
    assert scaled[worst] <= tolerance, (worst, scaled[worst], tolerance)
