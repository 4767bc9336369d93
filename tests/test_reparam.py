import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from wnbias import encode, get_loss, get_reparam, make_log_loss, mlp
from wnbias.reparam import REPARAMS, decode, resolve_spec, retract

KEY = jax.random.PRNGKey(0)
NORMALIZING = ["swn", "ewn", "normalized", "rpgd"]  # the ones with a direction v


def _unit_rows(w):
    return w / jnp.linalg.norm(w.reshape(len(w), -1), axis=1).reshape((-1,) + (1,) * (w.ndim - 1))


def _layer(name, n=7, key=KEY):
    """A weight that ``name`` maps back exactly: (n, 2) for polar, unit rows for normalized."""
    w = jax.random.normal(key, (n, 2 if name == "polar" else 3))
    return _unit_rows(w) if name == "normalized" else w


def _spec(name):
    """``name`` for a (2, 4, 1) MLP: polar only fits layer1 (4, 2), so layer2 stays plain."""
    r = get_reparam(name)
    return {"layer1": r, "layer2": get_reparam("plain")} if name == "polar" else r


@pytest.mark.parametrize("name", list(REPARAMS))
def test_decode_inverts_encode(name):
    w = _layer(name)
    r = get_reparam(name)
    np.testing.assert_allclose(r.decode(r.encode(w)), w, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ["swn", "ewn", "rpgd"])
def test_encode_has_unit_directions_and_norm_scales(name):
    w = jax.random.normal(KEY, (5, 4)) * 3
    theta = get_reparam(name).encode(w)
    np.testing.assert_allclose(jnp.linalg.norm(theta["v"], axis=1), 1.0, rtol=1e-14)
    scale = theta["g"] if "g" in theta else jnp.exp(theta["a"])
    np.testing.assert_allclose(scale, jnp.linalg.norm(w, axis=1), rtol=1e-14)


@pytest.mark.parametrize("name", list(REPARAMS))
def test_function_preserved_at_init(name):
    model = mlp((2, 6, 1), "relu2")
    x = jax.random.normal(jax.random.PRNGKey(1), (10, 2))
    weights = model.init(KEY)
    if name == "normalized":  # preserves the function only on unit rows
        weights = {layer: _unit_rows(w) for layer, w in weights.items()}
    spec = _spec(name)
    theta = encode(weights, spec)
    np.testing.assert_allclose(
        model.apply(decode(theta, spec), x), model.apply(weights, x), rtol=1e-13
    )


def test_normalized_decodes_to_unit_rows():
    w = jax.random.normal(KEY, (5, 4)) * 3
    np.testing.assert_allclose(get_reparam("normalized").decode({"v": w}), _unit_rows(w),
                               rtol=1e-15)


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
    reparam = _spec(name)
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


@pytest.mark.parametrize("name", NORMALIZING)
def test_conv_filters_are_neurons(name):
    """A (n, c, k, k) filter is one neuron: norms over axes 1.., per-neuron scalars (n,)."""
    w = jax.random.normal(KEY, (5, 3, 2, 2)) * 2
    if name == "normalized":
        w = _unit_rows(w)
    r = get_reparam(name)
    theta = r.encode(w)
    np.testing.assert_allclose(r.decode(theta), w, rtol=1e-14, atol=1e-15)
    norms = jnp.sqrt(jnp.sum(w**2, axis=(1, 2, 3)))
    np.testing.assert_allclose(jnp.sqrt(jnp.sum(theta["v"] ** 2, axis=(1, 2, 3))),
                               1.0 if name != "normalized" else norms, rtol=1e-14)
    if "g" in theta or "a" in theta:
        scale = theta["g"] if "g" in theta else jnp.exp(theta["a"])
        assert scale.shape == (5,)
        np.testing.assert_allclose(scale, norms, rtol=1e-14)
        # A non-unit direction is rescaled filter by filter.
        v = theta["v"] * jnp.arange(1.0, 6.0)[:, None, None, None]
        np.testing.assert_allclose(r.decode({**theta, "v": v}), w, rtol=1e-14, atol=1e-15)


def test_vmap_encode_over_a_seed_axis():
    w = jax.random.normal(KEY, (4, 5, 3, 2, 2))
    r = get_reparam("ewn")
    batched = jax.vmap(r.encode)(w)
    assert batched["a"].shape == (4, 5) and batched["v"].shape == w.shape
    np.testing.assert_allclose(jax.vmap(r.decode)(batched), w, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", NORMALIZING)
def test_rank_one_weights_are_rejected(name):
    with pytest.raises(ValueError, match="rank >= 2"):
        get_reparam(name).decode(get_reparam(name).encode(jnp.ones(3)))


def test_spec_per_layer():
    weights = mlp((3, 6, 1), "relu2").init(KEY)
    spec = {"layer1": get_reparam("ewn"), "layer2": get_reparam("plain")}
    theta = encode(weights, spec)
    assert set(theta["layer1"]) == {"a", "v"} and set(theta["layer2"]) == {"w"}
    for layer, w in decode(theta, spec).items():
        np.testing.assert_allclose(w, weights[layer], rtol=1e-14, atol=1e-15)
    assert resolve_spec(get_reparam("swn"), weights) == dict.fromkeys(weights, get_reparam("swn"))


def test_spec_must_name_every_layer():
    weights = mlp((3, 6, 1), "relu2").init(KEY)
    swn = get_reparam("swn")
    with pytest.raises(ValueError, match=r"missing \['layer2'\].*layers given: layer1, layer2"):
        encode(weights, {"layer1": swn})
    with pytest.raises(ValueError, match=r"extra \['layer3'\]"):
        decode(encode(weights, swn), {"layer1": swn, "layer2": swn, "layer3": swn})


def test_rpgd_retract_projects_v_and_keeps_the_function():
    r = get_reparam("rpgd")
    theta = r.encode(jax.random.normal(KEY, (5, 3, 2)))
    theta["v"] = theta["v"] * jnp.linspace(0.5, 3.0, 5)[:, None, None]  # off the sphere, as GD
    retracted = r.retract(theta)
    np.testing.assert_allclose(jnp.sqrt(jnp.sum(retracted["v"] ** 2, axis=(1, 2))), 1.0,
                               rtol=1e-14)
    np.testing.assert_array_equal(retracted["g"], theta["g"])
    np.testing.assert_allclose(r.decode(retracted), r.decode(theta), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", [n for n in REPARAMS if n != "rpgd"])
def test_retract_is_the_identity_elsewhere(name):
    r = get_reparam(name)
    theta = r.encode(_layer(name))
    for key, value in r.retract(theta).items():
        np.testing.assert_array_equal(value, theta[key])


def test_retract_per_layer():
    weights = mlp((3, 6, 1), "relu2").init(KEY)
    spec = {"layer1": get_reparam("rpgd"), "layer2": get_reparam("swn")}
    theta = encode(weights, spec)
    theta = jax.tree.map(lambda p: 2 * p, theta)
    out = retract(theta, spec)
    np.testing.assert_allclose(jnp.linalg.norm(out["layer1"]["v"], axis=1), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(out["layer2"]["v"], theta["layer2"]["v"])


def test_polar_coordinates():
    r = get_reparam("polar")
    theta = r.encode(jnp.array([[3.0, 4.0], [0.0, -2.0]]))
    np.testing.assert_allclose(theta["r"], [5.0, 2.0], rtol=1e-15)
    np.testing.assert_allclose(theta["phi"], [jnp.arctan2(4.0, 3.0), -jnp.pi / 2], rtol=1e-15)


def test_polar_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"polar needs weights of shape \(n, 2\)"):
        get_reparam("polar").encode(jnp.ones((4, 3)))


def test_unknown_reparam_is_a_clear_error():
    with pytest.raises(ValueError, match="allowed: plain, swn, ewn"):
        get_reparam("bn")
