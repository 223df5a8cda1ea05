"""The networks compose like any JAX function, on the default path of this machine and with the
opt-in oneDNN maps where they build: jax.jacfwd of h = Enc o Dec, a gradient of a gradient-norm
penalty through both networks, jax.vmap over parameter sets, jax.export of the decoder. Each is
checked against the same networks built from flax's plain layers (lax), whose derivatives are
jax's own."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax import configs, models, training
from pga_jax.cpu import onednn


@pytest.fixture(params=["default", "onednn"])
def path(request, monkeypatch):
    if request.param == "onednn":
        try:
            onednn.build()
        except onednn.OneDNNUnavailable as e:
            pytest.skip(str(e))
        monkeypatch.setattr(onednn, "enabled", lambda: True)
    return request.param


def _networks(fast_layers: bool, experiment: str = "mnist_vpga", seed: int = 0):
    config = configs.load_experiment(experiment, "smoke")
    config.model.fast_layers = fast_layers
    config.seed = seed
    state, model = training.create_train_state(config, models.output_shape(config.model.arch))
    return state, model


def _h(model, state):
    def h(z):
        return model.networks(state).h(z)

    return h


def _close(a, b, rtol=1e-4):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * np.abs(b).max())


def test_jacfwd_of_h_equals_the_plain_networks_and_finite_differences(path):
    state, fast = _networks(True)
    _, plain = _networks(False)
    z = jax.random.normal(jax.random.PRNGKey(3), (2, fast.z_dim))
    jac = jax.jit(jax.jacfwd(_h(fast, state)))(z)
    _close(jac, jax.jit(jax.jacfwd(_h(plain, state)))(z))
    assert jac.shape == (2, fast.z_dim, 2, fast.z_dim)
    # central differences of the plain networks in float64, along two latent directions
    with jax.enable_x64(True):
        wide = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), state)
        h = jax.jit(_h(plain, wide))
        z64 = jnp.asarray(z, jnp.float64)
        for i in (0, 5):
            e = jnp.zeros_like(z64).at[0, i].set(1e-4)
            fd = (h(z64 + e) - h(z64 - e)) / 2e-4
            _close(jac[:, :, 0, i], fd, rtol=1e-4)


def test_gradient_of_a_gradient_norm_penalty_equals_the_plain_networks(path):
    state, fast = _networks(True)
    _, plain = _networks(False)
    x = jax.random.uniform(jax.random.PRNGKey(4), (4, *fast.image_shape), minval=-1, maxval=1)

    def penalty(model):
        def recon(params, x):
            nets = model.networks(params, state.batch_stats)
            return jnp.mean((nets.decode(nets.encode(x)[0]) - x) ** 2)

        # ||d recon / d x||^2, differentiated w.r.t. the parameters of both networks
        return jax.jit(jax.grad(lambda p: jnp.sum(jax.grad(recon, 1)(p, x) ** 2)))

    got, want = penalty(fast)(state.params), penalty(plain)(state.params)
    for part in ("encoder", "decoder"):
        for a, b in zip(jax.tree.leaves(got[part]), jax.tree.leaves(want[part]), strict=True):
            _close(a, b, rtol=1e-3)
    assert any(float(jnp.abs(leaf).max()) > 0 for leaf in jax.tree.leaves(got["encoder"]))


def test_vmap_over_parameter_sets_equals_the_loop(path):
    states = [_networks(True, seed=s)[0] for s in (0, 1)]
    _, model = _networks(True)
    z = jax.random.normal(jax.random.PRNGKey(5), (3, model.z_dim))
    params = jax.tree.map(lambda *xs: jnp.stack(xs), *[s.params for s in states])

    def decode_and_grad_at(p):
        nets = model.networks(p, states[0].batch_stats)
        loss = lambda q: jnp.sum(model.networks(q, states[0].batch_stats).h(z) ** 2)  # noqa: E731
        return nets.decode(z), jax.grad(loss)(p)

    mapped = jax.jit(jax.vmap(decode_and_grad_at))(params)
    for i, s in enumerate(states):
        one = jax.jit(decode_and_grad_at)(s.params)
        for a, b in zip(jax.tree.leaves(mapped), jax.tree.leaves(one), strict=True):
            _close(a[i], b, rtol=1e-5)


def test_export_of_the_decoder_round_trips():
    state, model = _networks(True, "cifar_lpga")  # conv_32 with BatchNorm
    z = jax.random.normal(jax.random.PRNGKey(6), (4, model.z_dim))

    def decode(params, batch_stats, z):
        return model.networks(params, batch_stats).decode(z)

    exported = jax.export.export(jax.jit(decode))(state.params, state.batch_stats, z)
    restored = jax.export.deserialize(exported.serialize())
    np.testing.assert_array_equal(
        np.asarray(restored.call(state.params, state.batch_stats, z)),
        np.asarray(jax.jit(decode)(state.params, state.batch_stats, z)),
    )
