"""Training, one concept a module:

- state.py: the train state, building the networks, creating and loading them, and the jitted
  generate / reconstruct / encode functions;
- step.py: the pure jitted train step;
- inputs.py: the training images and where they live;
- run_record.py: config.json, the resume policy, settings changed with their step;
- actions.py: what the host does between calls (logs, images, FID, checkpoints) and when;
- stopping.py: SIGINT / SIGTERM between steps, non-finite losses;
- loop.py: the loop (`train_and_evaluate`, `train_population`).

The names below are the package's public ones.
"""

from pga_jax.training.actions import (
    STEPS_PER_SEC,
    evaluate_fid,
    generate_samples,
    write_images,
)
from pga_jax.training.inputs import images_on_device, load_training_images
from pga_jax.training.loop import train_and_evaluate, train_population
from pga_jax.training.run_record import FAILURE_FILE
from pga_jax.training.state import (
    Model,
    TrainState,
    build_networks,
    create_train_state,
    load_for_inference,
    make_encode,
    make_generate,
    make_reconstruct,
)
from pga_jax.training.step import loss_fn, make_train_step, train_step
from pga_jax.training.stopping import NonFiniteLossError, Stopped, stop_requests

__all__ = [
    "FAILURE_FILE",
    "STEPS_PER_SEC",
    "Model",
    "NonFiniteLossError",
    "Stopped",
    "TrainState",
    "build_networks",
    "create_train_state",
    "evaluate_fid",
    "generate_samples",
    "images_on_device",
    "load_for_inference",
    "load_training_images",
    "loss_fn",
    "make_encode",
    "make_generate",
    "make_reconstruct",
    "make_train_step",
    "stop_requests",
    "train_and_evaluate",
    "train_population",
    "train_step",
    "write_images",
]
