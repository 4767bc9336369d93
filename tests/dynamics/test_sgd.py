"""run_sgd: full-batch GD equals hand-written steps, minibatch segments draw the same batches as
one call, a non-finite step freezes the seed, and the normalization term's exact identity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wnbias.dynamics.sgd import run_sgd
from wnbias.dynamics.trajectory import Status


def _loss(theta, x, y):
    r = x @ theta["w"] - y
    return jnp.mean(r**2), {"max_residual": jnp.max(jnp.abs(r))}


def _data(n=12, d=3):
    rng = np.random.default_rng(0)
    return jnp.asarray(rng.standard_normal((n, d))), jnp.asarray(rng.standard_normal(n))


def test_full_batch_equals_hand_written_gd():
    x, y = _data()
    theta0 = {"w": jnp.zeros((2, 3)).at[1].set(1.0)}  # two seeds
    run = run_sgd(_loss, theta0, (x, y), lr=0.1, epochs=7)
    for s in range(2):
        w = theta0["w"][s]
        losses = []
        for _ in range(7):
            losses.append(float(_loss({"w": w}, x, y)[0]))
            w = w - 0.1 * jax.grad(lambda v: _loss({"w": v}, x, y)[0])(w)
        np.testing.assert_allclose(run.theta["w"][s], w, rtol=1e-13)
        np.testing.assert_allclose(run.trajectory.series["loss"][s, :7], losses, rtol=1e-13)
        assert run.trajectory.series["loss"][s, 7] == pytest.approx(float(_loss({"w": w}, x,
                                                                                 y)[0]))
    assert list(run.trajectory.status) == [Status.BUDGET] * 2
    assert list(run.trajectory.length) == [8, 8]


def test_minibatch_segments_draw_the_batches_of_one_call():
    x, y = _data()
    theta0 = {"w": jnp.zeros((1, 3))}
    key = jax.random.PRNGKey(3)
    whole = run_sgd(_loss, theta0, (x, y), lr=0.05, epochs=6, batch_size=5, key=key)
    first = run_sgd(_loss, theta0, (x, y), lr=0.05, epochs=3, batch_size=5, key=key)
    second = run_sgd(_loss, first.theta, (x, y), lr=0.05, epochs=3, batch_size=5, key=key,
                     epoch0=3)
    np.testing.assert_allclose(second.theta["w"], whole.theta["w"], rtol=1e-13)
    assert whole.trajectory.counts["steps"][0] == 6 * 2  # floor(12 / 5) batches per epoch
    plain = run_sgd(_loss, theta0, (x, y), lr=0.05, epochs=6)
    assert not np.allclose(plain.theta["w"], whole.theta["w"])  # batches really differ


def test_a_non_finite_step_freezes_the_seed():
    x, y = _data()
    theta0 = {"w": jnp.ones((1, 3))}
    run = run_sgd(_loss, theta0, (x, y), lr=1e200, epochs=5)
    assert run.trajectory.status[0] == Status.NONFINITE
    assert np.all(np.isfinite(run.theta["w"]))
    assert run.trajectory.length[0] < 6


def test_row_norms_grow_by_exactly_eta_squared_grad_squared():
    """||v_i(t+1)||^2 = ||v_i(t)||^2 + eta^2 ||grad_{v_i} L||^2 for a row-normalized layer: the
    gradient is orthogonal to v_i (Cisneros-Velarde et al.'s normalization term, PAPERS §3.5)."""
    from wnbias.config import resolve
    from wnbias.experiments import cisneros_hessian as ch

    config = resolve(ch.Config, {"dataset": "digits", "dtype": "float64"})
    x = jnp.asarray(np.random.default_rng(1).standard_normal((20, 8)))
    y = jax.nn.one_hot(jnp.arange(20) % 10, 10, dtype=x.dtype)
    objective, hidden = ch._network(config, 16, 2, 8, 10)
    keys = jax.random.PRNGKey(0)[None]  # _init makes one net per key
    theta = jax.tree.map(lambda v: v[0], ch._init(objective, hidden, keys, np.sqrt(5.0), x.dtype))
    eta = 0.3
    grad = jax.grad(lambda th: objective.loss(th, x, y))(theta)
    run = run_sgd(ch._loss_fn(objective), jax.tree.map(lambda v: v[None], theta), (x, y),
                  lr=eta, epochs=1)
    for layer in hidden:
        before = jnp.sum(theta[layer]["v"] ** 2, axis=1)
        after = jnp.sum(run.theta[layer]["v"][0] ** 2, axis=1)
        predicted = before + eta**2 * jnp.sum(grad[layer]["v"] ** 2, axis=1)
        np.testing.assert_allclose(after, predicted, rtol=1e-12)
        assert float(jnp.max(after - before)) > 1e-8  # the rows really moved
