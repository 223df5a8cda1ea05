"""Evaluate trained runs (FID, sample grid, reconstructions, interpolations): the library is
`evaluation.py` (its docstring: what is written and how), the command line `__main__.py`."""

from pga_jax.evaluate.evaluation import (
    MAKE_REF_IN_PYTHON,
    EvaluationError,
    RestoredRun,
    WorkdirError,
    compute_fid,
    decode_interpolations,
    default_split,
    encoded_interpolations,
    evaluate,
    evaluate_many,
    expand_workdirs,
    held_out_images,
    interpolate,
    load_ref_stats,
    load_run,
    measure_log_det,
    read_config,
    reference_split,
)

__all__ = [
    "MAKE_REF_IN_PYTHON",
    "EvaluationError",
    "RestoredRun",
    "WorkdirError",
    "compute_fid",
    "decode_interpolations",
    "default_split",
    "encoded_interpolations",
    "evaluate",
    "evaluate_many",
    "expand_workdirs",
    "held_out_images",
    "interpolate",
    "load_ref_stats",
    "load_run",
    "measure_log_det",
    "read_config",
    "reference_split",
]
