import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from wnbias import (
    Objective,
    constant,
    coordinate_linear,
    encode,
    get_loss,
    get_reparam,
    make_log_loss,
    mlp,
    run_gd,
)
from wnbias.objective import from_terms

KEY = jax.random.PRNGKey(0)


def tiny(loss="logistic", activation="tanh", reparam="ewn"):
    model = mlp((2, 3, 1), activation)
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 2))
    y = jnp.sign(x[:, 0] + 0.3) if loss != "square" else x[:, 1]
    spec = get_reparam(reparam)
    objective = make_log_loss(model, spec, get_loss(loss))
    return objective, encode(model.init(KEY), spec), x, y


def test_methods_agree():
    objective, theta, x, y = tiny()
    assert isinstance(objective, Objective)
    value, terms = objective.value_and_terms(theta, x, y)
    assert float(value) == float(objective(theta, x, y))
    np.testing.assert_array_equal(terms, objective.terms(theta, x, y))
    np.testing.assert_allclose(objective.loss(theta, x, y), jnp.exp(value), rtol=1e-15)
    f = objective.model.apply(objective.weights(theta), x)
    np.testing.assert_array_equal(objective.predict(theta, x), f)
    again = objective.encode(objective.weights(theta))
    np.testing.assert_allclose(ravel_pytree(again)[0], ravel_pytree(theta)[0], rtol=1e-14)


def test_hashes_by_identity():
    objective, *_ = tiny()
    twin = Objective(objective.model, objective.spec, objective.criterion)
    assert objective != twin and hash(objective) != hash(twin) and objective == objective


def test_retract_follows_the_spec():
    objective, theta, x, y = tiny(reparam="rpgd")
    stretched = jax.tree.map(lambda a: 3.0 * a, theta)
    out = objective.retract(stretched)
    np.testing.assert_allclose(jnp.linalg.norm(out["layer1"]["v"], axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(objective.predict(out, x), objective.predict(stretched, x),
                               rtol=1e-13)


def _fd_hessian(grad_of_flat, flat, h=1e-5):
    """Columns (grad(flat + h e_i) - grad(flat - h e_i)) / 2h, stacked on the last axis."""
    steps = h * jnp.eye(flat.size)  # one column per row, all in one vmapped call
    cols = (jax.vmap(grad_of_flat)(flat + steps) - jax.vmap(grad_of_flat)(flat - steps)) / (2 * h)
    return jnp.moveaxis(cols, 0, -1)


@pytest.mark.parametrize(("loss", "reparam"), [("logistic", "ewn"), ("square", "swn"),
                                               ("square_mean", "plain")])
def test_hessians_of_the_loss_and_the_predictor_match_finite_differences(loss, reparam):
    objective, theta, x, y = tiny("square" if loss.startswith("square") else loss,
                                  reparam=reparam)
    objective = make_log_loss(objective.model, objective.spec, get_loss(loss))
    flat, unravel = ravel_pytree(theta)

    def loss_of(v):
        return objective.loss(unravel(v), x, y)

    hess = jax.jit(jax.hessian(loss_of))(flat)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-12, atol=1e-14)
    fd = _fd_hessian(jax.jit(jax.grad(loss_of)), flat)
    np.testing.assert_allclose(hess, fd, rtol=1e-6, atol=1e-8)

    def predict_of(v):
        return objective.predict(unravel(v), x)

    hess_f = jax.jit(jax.hessian(predict_of))(flat)  # (n, P, P)
    assert hess_f.shape == (x.shape[0], flat.size, flat.size)
    fd_f = _fd_hessian(jax.jit(jax.jacobian(predict_of)), flat)
    np.testing.assert_allclose(hess_f, fd_f, rtol=1e-6, atol=1e-8)


def test_from_terms_is_logsumexp_of_the_terms():
    def terms(theta, shift):
        return jnp.stack([theta["t"][0], shift - theta["t"][0]])

    objective = from_terms(terms)
    theta = {"t": jnp.asarray([0.5])}
    value, t = objective.value_and_terms(theta, 2.0)
    np.testing.assert_allclose(value, np.log(np.exp(0.5) + np.exp(1.5)), rtol=1e-15)
    assert float(objective(theta, 2.0)) == float(value)
    np.testing.assert_array_equal(t, terms(theta, 2.0))


def test_gd_on_the_square_loss_from_a_zero_residual():
    # Least squares with f = <w, x>: example 0 is fit exactly at the start (log l_0 = -inf), and
    # plain GD on L (step -lr grad L) still converges to the solution without a NaN.
    model = coordinate_linear(2)
    objective = make_log_loss(model, get_reparam("plain"), get_loss("square"))
    x = jnp.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    w_star = jnp.asarray([0.5, -1.0])
    y = x @ w_star
    theta = {"w": {"w": jnp.asarray([[0.5], [0.0]])}}
    assert float(objective.terms(theta, x, y)[0]) == -np.inf
    result = run_gd(objective, theta, (x, y), constant(0.3), max_steps=200)
    assert result.trajectory.status_names() == ["budget"] and np.isfinite(result.log_loss[0])
    np.testing.assert_allclose(result.theta["w"]["w"][0, :, 0], w_star, atol=1e-10)
