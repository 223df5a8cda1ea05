"""Proposition 1 measured: the exact log|det dh/dz| next to the surrogate LPGA trains with.

h = f_phi o g_theta (the encoder's mean head after the decoder). LPGA's L_nll^theta (Eq. 7)
replaces log|det J(z)|, J = dh/dz, by

    S_eps(z) = (H/2) E_u log(||h(z + eps u) - h(z)||^2 / eps^2),  u uniform on the unit sphere,

and Proposition 1 (Eq. 8) says that as eps -> 0 this is an upper bound:

    log|det J(z)|  <=  S_0(z) = (H/2) E_u log ||J(z) u||^2,

tight when J(z) is a multiple of an orthogonal matrix (all singular values equal; the paper's
"multiple of the identity" is one such case). Here, for latents z:

- `exact`: log|det J| from the float64 `slogdet` of J (jax.jacfwd of the float32 networks),
  with J's singular values: their log-spread (how far h is from a scaled rotation at z) and
  condition number;
- `surrogate[eps]`: S_eps at each eps, with the networks in float32 as training runs them;
- `limit`: S_0 from J (float64), with the very directions u the surrogates use, so S_eps - S_0
  shrinks to float32 rounding as eps -> 0 (common random numbers), and S_0 - exact >= 0 is the
  bound's own gap, free of finite differences;
- `nll`: the latent negative log-likelihood of Eq. (5) at z, -log N(z; 0, I) + log|det J|, with
  the exact log-determinant and with the surrogate at the config's eps (what training sees).

Everything is reported per latent dimension (divided by H), the unit of the logged loss terms
(terms/nll_dec is S_eps / H). The networks run in inference mode (BatchNorm with its running
averages), so h acts on each latent alone; training normalises each batch by its own
statistics, which the architectures without BatchNorm (conv_mnist: MNIST, Fashion-MNIST) do not
have. Nothing here is in the paper or the original code: it checks Eq. (8) on trained models.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from pga_jax import losses

SOURCES = ("data", "prior")  # z = mu_phi(x) of held-out images; z ~ N(0, I)
EPS_FACTORS = (1.0, 0.1, 0.01)  # the config's eps, then Prop. 1's limit approached
NUM_DIRECTIONS = 16  # directions u per latent (the training step draws one)

H = Callable  # h(params, z [B, H]) -> [B, H]


def unit_directions(rng: jax.Array, num: int, n: int, z_dim: int) -> np.ndarray:
    """u [num, n, H] uniform on the unit sphere (losses.sphere_noise at radius 1)."""
    return np.asarray(losses.sphere_noise(rng, (num, n, z_dim), 1.0))


@functools.lru_cache(maxsize=8)
def _jacobian_fn(h: H):
    def one(params, z):  # [H] -> [H, H]
        return jax.jacfwd(lambda v: h(params, v[None])[0])(z)

    return jax.jit(jax.vmap(one, in_axes=(None, 0)))


@functools.lru_cache(maxsize=8)
def _surrogate_fn(h: H):
    def per_latent(params, z, eps, u):  # z [B, H], u [K, B, H] -> [B]
        h_z = h(params, z)
        delta_norm = jnp.full(z.shape[:1], eps, z.dtype)

        def ratio(u_k):  # 0.5 log(||h(z + eps u) - h(z)||^2 / eps^2) per latent: Eq. (7)
            h_d = h(params, z + eps * u_k)
            return jax.vmap(lambda a, b, n: losses.log_volume_ratio(a[None], b[None], n))(
                h_z, h_d, delta_norm
            )

        return jnp.mean(jax.lax.map(ratio, u), axis=0)

    return jax.jit(per_latent)


def _batches(n: int, batch_size: int):
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def jacobians(h: H, params, z: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """J(z) = dh/dz at each latent: [N, H, H] float32 (jax.jacfwd, `batch_size` latents a
    call)."""
    fn = _jacobian_fn(h)
    parts = [np.asarray(fn(params, jnp.asarray(z[s]))) for s in _batches(len(z), batch_size)]
    return np.concatenate(parts)


def exact(jac: np.ndarray) -> dict[str, np.ndarray]:
    """Per latent, from J in float64: log|det J| (slogdet), its sign, and the singular values'
    log-spread (std over dimensions of log s_i: 0 for a scaled rotation) and condition number."""
    jac = np.asarray(jac, np.float64)
    sign, log_abs_det = np.linalg.slogdet(jac)
    s = np.linalg.svd(jac, compute_uv=False)
    with np.errstate(divide="ignore"):
        log_s = np.log(s)
        condition = s[:, 0] / s[:, -1]
    return {
        "log_det": log_abs_det,
        "sign": sign,
        "log_sv_spread": np.std(log_s, axis=-1),
        "condition": condition,
    }


def limit(jac: np.ndarray, u: np.ndarray) -> np.ndarray:
    """S_0(z) = (H/2) mean_k log ||J(z) u_k||^2 in float64: the surrogate's eps -> 0 limit with
    the directions `u` [K, N, H]."""
    ju = np.einsum("nij,knj->kni", np.asarray(jac, np.float64), np.asarray(u, np.float64))
    return 0.5 * jac.shape[-1] * np.mean(np.log(np.sum(ju**2, axis=-1)), axis=0)


def surrogate(h: H, params, z: np.ndarray, eps: float, u: np.ndarray, batch_size: int = 64):
    """S_eps(z) per latent [N]: (H/2) mean_k log(||h(z + eps u_k) - h(z)||^2 / eps^2), float32
    networks (losses.log_volume_ratio, as training computes it)."""
    fn = _surrogate_fn(h)
    parts = [
        np.asarray(fn(params, jnp.asarray(z[s]), eps, jnp.asarray(u[:, s])))
        for s in _batches(len(z), batch_size)
    ]
    return z.shape[-1] * np.concatenate(parts).astype(np.float64)


def _mean_sem(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, np.float64)
    sem = float(np.std(x, ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    return {"mean": float(np.mean(x)), "sem": sem}


def measure(
    h: H,
    params,
    z: np.ndarray,
    eps_list: Sequence[float],
    rng: jax.Array,
    num_directions: int = NUM_DIRECTIONS,
    batch_size: int = 64,
) -> dict:
    """Prop. 1's numbers at the latents `z` [N, H], per latent dimension (means over the N
    latents with their standard errors); see the module docstring."""
    z = np.asarray(z, np.float32)
    n, z_dim = z.shape
    jac = jacobians(h, params, z, batch_size)
    ex = exact(jac)
    u = unit_directions(rng, num_directions, n, z_dim)
    lim = limit(jac, u)
    sur = {float(e): surrogate(h, params, z, float(e), u, batch_size) for e in eps_list}
    neg_log_prior = 0.5 * np.sum(np.square(z.astype(np.float64)), -1) + 0.5 * z_dim * np.log(
        2 * np.pi
    )
    first = sur[float(eps_list[0])]
    return {
        "n": n,
        "z_dim": z_dim,
        "num_directions": num_directions,
        "log_det": _mean_sem(ex["log_det"] / z_dim),
        "nonsingular": float(np.mean(ex["sign"] != 0)),
        "limit": _mean_sem(lim / z_dim),
        "surrogate": {repr(e): _mean_sem(v / z_dim) for e, v in sur.items()},
        "bound_gap": _mean_sem((lim - ex["log_det"]) / z_dim),
        "surrogate_gap": _mean_sem((first - ex["log_det"]) / z_dim),
        "log_sv_spread": _mean_sem(ex["log_sv_spread"]),
        "condition_median": float(np.median(ex["condition"])),
        "nll": {
            "exact": _mean_sem((neg_log_prior + ex["log_det"]) / z_dim),
            "surrogate": _mean_sem((neg_log_prior + first) / z_dim),
        },
    }


# ---- a trained run ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunH:
    """h(state, z) of a run's networks in inference mode (hashable: one compiled Jacobian per
    architecture and objective)."""

    model: Any  # training.Model

    def __call__(self, state, z):
        return self.model.networks(state, train=False).h(z)

    def encode(self, state, x):
        return self.model.networks(state, train=False).encode(x)[0]


def eps_scale(config: ml_collections.ConfigDict) -> float:
    """The config's eps / sqrt(H) (LPGA, LVPGA: objective.nll_eps_scale), else the original
    code's 1e-2."""
    return float(config.objective.get("nll_eps_scale", 1e-2))


def measure_run(
    model,
    state,
    config: ml_collections.ConfigDict,
    images: np.ndarray,
    rng: jax.Array,
    num_directions: int = NUM_DIRECTIONS,
    batch_size: int = 64,
) -> dict:
    """Prop. 1's numbers of a trained run at z = mu_phi(x) of `images` ([-1, 1] floats) and at
    as many z ~ N(0, I), at eps = c sqrt(H) for c = the config's scale x EPS_FACTORS."""
    h = RunH(model)
    x = jnp.asarray(images, jnp.float32)
    z_data = np.concatenate(
        [np.asarray(jax.jit(h.encode)(state, x[s])) for s in _batches(len(x), batch_size)]
    )
    k_prior, k_data, k_dirs = jax.random.split(rng, 3)
    z_prior = np.asarray(jax.random.normal(k_prior, z_data.shape))
    scales = [eps_scale(config) * f for f in EPS_FACTORS]
    eps_list = [losses.nll_sphere_radius(model.z_dim, c) for c in scales]
    result = {"eps_scales": scales, "eps": eps_list}
    for name, z, key in (("data", z_data, k_data), ("prior", z_prior, k_dirs)):
        result[name] = measure(h, state, z, eps_list, key, num_directions, batch_size)
    return result


def scalars(result: dict, prefix: str = "") -> dict[str, float]:
    """The headline numbers as flat scalars (TensorBoard, reports): per z-source, the exact
    value, the surrogate at the config's eps, their gap and the bound's gap, per dimension."""
    out = {}
    for name in SOURCES:
        r = result[name]
        first = r["surrogate"][repr(float(result["eps"][0]))]
        out[f"{prefix}{name}/exact"] = r["log_det"]["mean"]
        out[f"{prefix}{name}/surrogate"] = first["mean"]
        out[f"{prefix}{name}/surrogate_gap"] = r["surrogate_gap"]["mean"]
        out[f"{prefix}{name}/bound_gap"] = r["bound_gap"]["mean"]
        out[f"{prefix}{name}/log_sv_spread"] = r["log_sv_spread"]["mean"]
    return out


def figure(result: dict, title: str = "") -> np.ndarray:
    """The surrogate S_eps against eps next to the exact log|det| and the limit S_0, per latent
    dimension, one panel per z-source: an RGB uint8 image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(4 * len(SOURCES), 3.4), dpi=100)
    FigureCanvasAgg(fig)
    eps = np.asarray(result["eps"])
    for i, name in enumerate(SOURCES):
        r = result[name]
        ax = fig.add_subplot(1, len(SOURCES), i + 1)
        sur = [r["surrogate"][repr(float(e))] for e in eps]
        ax.errorbar(
            eps,
            [s["mean"] for s in sur],
            yerr=[s["sem"] for s in sur],
            marker="o",
            label="surrogate S_eps (Eq. 7)",
        )
        ax.axhline(r["limit"]["mean"], ls="--", color="C2", label="limit S_0 (from J)")
        ax.axhline(r["log_det"]["mean"], color="C3", label="exact log|det J|")
        ax.set_xscale("log")
        ax.set_xlabel("eps")
        ax.set_ylabel("per latent dimension")
        source = "z = mu(x), held-out x" if name == "data" else "z ~ N(0, I)"
        ax.set_title(f"{source} (N={r['n']})", fontsize=9)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
