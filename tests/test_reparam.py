import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from wnbias import encode, get_loss, get_reparam, make_log_loss, mlp
from wnbias.reparam import REPARAMS, decode

KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize("name", list(REPARAMS))
def test_decode_inverts_encode(name):
    w = jax.random.normal(KEY, (7, 3))
    r = get_reparam(name)
    np.testing.assert_allclose(r.decode(r.encode(w)), w, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ["swn", "ewn"])
def test_encode_has_unit_directions_and_norm_scales(name):
    w = jax.random.normal(KEY, (5, 4)) * 3
    theta = get_reparam(name).encode(w)
    np.testing.assert_allclose(jnp.linalg.norm(theta["v"], axis=1), 1.0, rtol=1e-14)
    scale = theta["g"] if name == "swn" else jnp.exp(theta["a"])
    np.testing.assert_allclose(scale, jnp.linalg.norm(w, axis=1), rtol=1e-14)


@pytest.mark.parametrize("name", list(REPARAMS))
def test_function_preserved_at_init(name):
    model = mlp((3, 6, 1), "relu2")
    x = jax.random.normal(jax.random.PRNGKey(1), (10, 3))
    weights = model.init(KEY)
    theta = encode(weights, get_reparam(name))
    np.testing.assert_allclose(
        model.apply(decode(theta, get_reparam(name)), x), model.apply(weights, x), rtol=1e-13
    )


def test_decode_rescales_non_unit_v():
    v = jnp.array([[3.0, 4.0]])
    np.testing.assert_allclose(get_reparam("swn").decode({"g": jnp.array([2.0]), "v": v}),
                               [[1.2, 1.6]], rtol=1e-15)
    np.testing.assert_allclose(get_reparam("ewn").decode({"a": jnp.array([0.0]), "v": v}),
                               [[0.6, 0.8]], rtol=1e-15)


@pytest.mark.parametrize("name", list(REPARAMS))
def test_gradients_match_central_differences(name):
    model = mlp((2, 4, 1), "relu2")
    x = jax.random.normal(jax.random.PRNGKey(2), (6, 2))
    y = jnp.sign(jax.random.normal(jax.random.PRNGKey(3), (6,)))
    reparam = get_reparam(name)
    log_loss = jax.jit(make_log_loss(model, reparam, get_loss("logistic")))
    theta = encode(model.init(KEY), reparam)
    grad = jax.grad(log_loss)(theta, x, y)
    flat, unravel = ravel_pytree(theta)
    flat_grad, _ = ravel_pytree(grad)
    h = 1e-6
    for i in range(flat.size):
        e = jnp.zeros_like(flat).at[i].set(h)
        fd = (log_loss(unravel(flat + e), x, y) - log_loss(unravel(flat - e), x, y)) / (2 * h)
        np.testing.assert_allclose(flat_grad[i], fd, rtol=1e-6, atol=1e-9)


def test_ewn_gd_keeps_v_norm_to_second_order():
    """The v-gradient is orthogonal to v, so one GD step changes ||v||^2 by eta^2 ||grad_v||^2."""
    model = mlp((2, 5, 1), "relu2")
    x = jax.random.normal(jax.random.PRNGKey(4), (8, 2))
    y = jnp.sign(x[:, 0])
    reparam = get_reparam("ewn")
    log_loss = make_log_loss(model, reparam, get_loss("logistic"))
    theta = encode(model.init(KEY), reparam)
    grad = jax.grad(log_loss)(theta, x, y)
    changes = []
    for eta in (1e-2, 1e-3):
        stepped = jax.tree.map(lambda p, g, eta=eta: p - eta * g, theta, grad)
        for layer in theta:
            v0, v1, gv = theta[layer]["v"], stepped[layer]["v"], grad[layer]["v"]
            np.testing.assert_allclose(jnp.sum(v0 * gv, axis=1), 0.0, atol=1e-14)
            expected = jnp.sum(v0**2, 1) + eta**2 * jnp.sum(gv**2, 1)
            np.testing.assert_allclose(jnp.sum(v1**2, 1), expected, rtol=1e-13)
        changes.append(float(jnp.max(jnp.abs(jnp.linalg.norm(stepped["layer1"]["v"], axis=1) - 1))))
    assert changes[1] < changes[0] / 50  # O(eta^2): a 10x smaller step, ~100x smaller change


def test_unknown_reparam_is_a_clear_error():
    with pytest.raises(ValueError, match="allowed: plain, swn, ewn"):
        get_reparam("bn")
