"""Device-only launcher (not part of pga_jax): the GPU image has no tensorflow, which clu's
SummaryWriter imports, so TensorBoard event files are skipped there; everything else runs as is.
Usage: python3 shim.py pga_jax.main --flags...  or  python3 shim.py path/to/script.py --flags...
"""

import runpy
import sys
import types

try:
    import tensorflow  # noqa: F401
except ImportError:
    stub = types.ModuleType("clu.metric_writers.summary_writer")

    class SummaryWriter:
        def __init__(self, *args, **kwargs):
            pass

        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    stub.SummaryWriter = SummaryWriter
    sys.modules["clu.metric_writers.summary_writer"] = stub

sys.path.insert(0, ".")
target, sys.argv = sys.argv[1], sys.argv[1:]
if target.endswith(".py"):
    runpy.run_path(target, run_name="__main__")
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
