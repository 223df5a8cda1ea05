"""A trained run for notebooks and scripts: `pga_jax.load(workdir)`.

    run = pga_jax.load("runs/fm")        # or load("runs/fm", step=2000): an earlier checkpoint
    x = run.sample(64, seed=0)            # g(z), z ~ N(0, I): float32 [64, H, W, C] in [-1, 1]
    z = run.encode(images)                # mu_phi(x): [N, z_dim]
    y = run.reconstruct(images)           # decode(encode(x))
    row = run.interpolate(img_a, img_b, steps=10)   # images or latents at both ends
    run.fid(5000, ref="fm_ref.npz")       # the FID dict of pga_jax.fid.score
    run.log_det(1000)                     # Prop. 1: exact log|det dh/dz| vs its surrogate

Images in: uint8 [0, 255] or floats in [-1, 1], [N, H, W, C] or one [H, W, C] image, of the
run's shape. Images out: float32 in [-1, 1], or uint8 with `uint8=True` (the original code's
conversion, `images.to_uint8`). Only the networks' parameters (and BatchNorm statistics) of the
checkpoint are read, verified against its manifest; the optimiser state is not loaded.
With BatchNorm (CIFAR-10, CelebA) every call normalises with its own batch's statistics, as in
training and in the original code, so an image there depends slightly on its batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pga_jax import checkpointing, data, errors, evaluate, images, training
from pga_jax import progress as bars


class RunError(errors.UserError, ValueError):
    """A workdir that cannot be loaded, or input of the wrong shape; the message says why."""


class Run:
    """The networks of a trained run as functions of numpy arrays (see the module docstring)."""

    def __init__(
        self, workdir: str, step: int | None = None, allow_unverified_checkpoint: bool = False
    ):
        self.workdir = workdir
        try:  # the networks only: no optimiser state
            run = evaluate.load_run(
                workdir, step=step, allow_unverified=allow_unverified_checkpoint
            )
        except (evaluate.EvaluationError, checkpointing.CheckpointError) as e:
            raise RunError(str(e)) from None
        self.verified = run.verified  # False: a checkpoint without checksums, accepted
        self.config, self.step = run.config, run.step
        self._state, self._model = run.state, run.model
        self.image_shape, self.z_dim = run.model.image_shape, run.model.z_dim
        self._generate = training.make_generate(run.model)
        self._encode = training.make_encode(run.model)

    def __repr__(self):
        c = self.config
        return (
            f"Run({self.workdir!r}: {c.objective.name} / {c.dataset} / {c.model.arch}, "
            f"step {self.step})"
        )

    # ---- conversions ------------------------------------------------------------------------

    def _images(self, x) -> jax.Array:
        x = np.asarray(x)
        if x.shape == self.image_shape:
            x = x[None]
        if x.ndim != 4 or x.shape[1:] != self.image_shape:
            h, w, c = self.image_shape
            raise RunError(
                f"images of shape {x.shape}: this run takes [N, {h}, {w}, {c}] "
                f"(or one {self.image_shape} image)"
            )
        if x.dtype == np.uint8:
            return jnp.asarray(data.to_unit_range(x))
        return jnp.asarray(x, jnp.float32)

    def _latents(self, z) -> jax.Array:
        z = np.asarray(z, np.float32)
        z = z[None] if z.ndim == 1 else z
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise RunError(f"latents of shape {z.shape}: this run takes [N, {self.z_dim}]")
        return jnp.asarray(z)

    @staticmethod
    def _out(x, uint8: bool) -> np.ndarray:
        x = np.asarray(x)
        return images.to_uint8(x) if uint8 else x

    # ---- the networks -----------------------------------------------------------------------

    def encode(self, x) -> np.ndarray:
        """mu_phi(x): [N, z_dim] (the mean head; VAE / VPGA / LVPGA also learn a variance)."""
        return np.asarray(self._encode(self._state, self._images(x)))

    def decode(self, z, uint8: bool = False) -> np.ndarray:
        """g_theta(z) for latents [N, z_dim] (or one [z_dim] latent)."""
        return self._out(self._generate(self._state, self._latents(z)), uint8)

    def reconstruct(self, x, uint8: bool = False) -> np.ndarray:
        """g_theta(mu_phi(x)) = decode(encode(x))."""
        return self.decode(self.encode(x), uint8)

    def sample(self, n: int, seed: int = 0, uint8: bool = False) -> np.ndarray:
        """n images g_theta(z), z ~ N(0, I) drawn from PRNGKey(seed): the same for a seed."""
        z = jax.random.normal(jax.random.PRNGKey(seed), (n, self.z_dim))
        return self.decode(z, uint8)

    def interpolate(self, a, b, steps: int = 10, uint8: bool = False) -> np.ndarray:
        """[steps, H, W, C]: g((1 - t) z_a + t z_b), t = 0 .. 1, where a and b are latents
        ([z_dim]) or images (encoded first: the ends are then their reconstructions)."""
        if steps < 2:
            raise RunError(f"steps={steps} must be at least 2")
        ends = []
        for end in (a, b):
            end = np.asarray(end)
            ends.append(end if end.shape == (self.z_dim,) else self.encode(end)[0])
        z = evaluate.interpolate(ends[0][None], ends[1][None], steps)[0]
        return self.decode(z, uint8)

    def fid(
        self,
        n: int = 5000,
        ref: str = "",
        seed: int = 0,
        feature_fn=None,
        allow_unverified_ref: bool = False,
        progress: bool = True,
    ) -> dict:
        """The FID dict (pga_jax.fid.score) of n samples against the statistics `ref` (a .npz;
        default: the run's config, else the cached statistics of its dataset); statistics
        without protocol / weights checksum only with `allow_unverified_ref`. `progress`: a
        bar of the Inception features (minutes on a CPU) on stderr."""
        try:
            stats, path, skipped = evaluate.load_ref_stats(
                ref, self.config, argument="ref", allow_unverified=allow_unverified_ref
            )
        except evaluate.EvaluationError as e:
            raise RunError(f"{e}; or {evaluate.MAKE_REF_IN_PYTHON}") from None
        if path is None:
            raise RunError(f"{skipped}; or {evaluate.MAKE_REF_IN_PYTHON}")
        batch = min(self.config.fid_batch_size, n)
        samples = training.generate_samples(
            self._state, self._model, self._generate, n, batch, jax.random.PRNGKey(seed)
        )
        with bars.shown(progress):
            return evaluate.compute_fid(samples, stats, feature_fn=feature_fn)

    def log_det(self, n: int = 1000, seed: int = 0, split: str = "") -> dict:
        """Proposition 1 at z = mu_phi(x) of n held-out images (of `split`; default: the
        dataset's evaluation split) and at n latents z ~ N(0, I): the exact log|det dh/dz|, the
        surrogate at the config's eps and smaller ones, their gaps, per latent dimension
        (pga_jax.evaluate.log_det; `evaluate(..., log_det_latents=n)` writes the same)."""
        if n <= 0:
            raise RunError(f"n={n} must be positive")
        split = split or evaluate.default_split(self.config)
        return evaluate.measure_log_det(self._model, self._state, self.config, split, n, seed)


def load(workdir: str, step: int | None = None, allow_unverified_checkpoint: bool = False) -> Run:
    """The latest checkpoint of a training workdir (or that of `step`), ready for inference
    (`Run`): verified against its checksums and checked to hold exactly the parameters of the
    config's networks (a one-line RunError otherwise). A checkpoint without checksums (older
    runs) loads only with `allow_unverified_checkpoint` (then `Run.verified` is False)."""
    return Run(workdir, step, allow_unverified_checkpoint)
