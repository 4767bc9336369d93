"""Min et al.'s linear-network quantities against hand computations and the engine's own flow
and GD on f(x) = V U^T x (layer1 = U^T, layer2 = V)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import wnbias as wb
from wnbias.measure.linear_networks import (
    balanced_init,
    imbalance,
    imbalance_levels,
    min_norm_map,
    orthogonal_init,
    proposition1_rate,
    row_space,
    split_u,
    theorem3_rate,
)


def _problem(n=6, d=9, m=2, h=8, seed=0):
    rng = np.random.RandomState(seed)
    x, y = rng.randn(n, d), rng.randn(n, m)
    return x, y, rng.randn(d, h) * 0.5, rng.randn(m, h) * 0.5


def _objective(d, h, m):
    return wb.make_log_loss(wb.deep_linear((d, h, m)), wb.get_reparam("plain"),
                            wb.get_loss("square"))


def _theta(u, v):
    return {"layer1": {"w": jnp.asarray(u.T)}, "layer2": {"w": jnp.asarray(v)}}


def test_theorem3_c_by_hand():
    # X = I: Sigma_x = I, Y = (1, 0)^T, U = diag(1, 0), V = (0.5, 0): D = diag(0.75, 0), so
    # Delta_+ = 0.75, Delta_- = Delta = 0; the margin sigma_1(Y~) - ||Y~ - U V^T|| = 1 - 0.5:
    # c = -0.75 + sqrt(0.75^2 + 4 * 0.5^2) + 0 = 0.5
    out = theorem3_rate(np.eye(2), np.array([[1.0], [0.0]]), np.diag([1.0, 0.0]),
                        np.array([[0.5, 0.0]]))
    assert out["delta_plus"] == pytest.approx(0.75) and out["delta"] == pytest.approx(0.0)
    assert out["c"] == pytest.approx(0.5, abs=1e-12) and out["l_star"] == pytest.approx(0.0)


def test_imbalance_levels_by_hand():
    levels = imbalance_levels(np.diag([3.0, 1.0, -2.0, -0.5]), r=2, m=1)
    assert levels == {"delta_plus": 2.0, "delta_minus": 0.0, "delta": 1.0 + 2.0}
    with pytest.raises(ValueError, match="width h=4 is below what the bounds need"):
        imbalance_levels(np.eye(4), r=5, m=1)


def test_flow_conserves_the_imbalance_and_u2_and_obeys_both_bounds():
    x, y, u, v = _problem()
    d, h, m = u.shape[0], u.shape[1], v.shape[0]
    objective = _objective(d, h, m)
    run = wb.run_flow(objective, _theta(u, v), (jnp.asarray(x), jnp.asarray(y)),
                      wb.TimeClock(t_end=3.0), rtol=1e-11, atol=1e-13, n_save=40,
                      record=lambda th: {"u": th["layer1"]["w"].T, "v": th["layer2"]["w"]})
    t = run.trajectory
    rs = row_space(x)
    d0 = imbalance(u, v, rs)
    bound = theorem3_rate(x, y, u, v)
    l_star = bound["l_star"]
    times, losses = t.valid("t"), np.exp(t.valid("log_loss"))
    grad = jax.jit(jax.grad(lambda th: objective.loss(th, jnp.asarray(x), jnp.asarray(y))))
    for k, (us, vs) in enumerate(zip(t.valid("u"), t.valid("v"), strict=True)):
        np.testing.assert_allclose(imbalance(us, vs, rs), d0, atol=1e-8)
        np.testing.assert_allclose(split_u(us, rs)[1], split_u(u, rs)[1], atol=1e-8)
        # Theorem 3: L - L* <= exp(-lambda_r c(0) t) (L(0) - L*)
        assert losses[k] - l_star <= np.exp(-bound["rate"] * times[k]) * (losses[0] - l_star) \
            * (1 + 1e-6) + 1e-12
        # Proposition 1: the instantaneous rate ||grad L||^2 / (L - L*) is at least the bound
        g = grad(_theta(us, vs))
        speed = sum(float(jnp.sum(leaf**2)) for leaf in jax.tree.leaves(g))
        assert speed / (losses[k] - l_star) >= proposition1_rate(x, us, vs, m) * (1 - 1e-6)


def test_balanced_init_has_zero_imbalance_and_the_given_map():
    x, _, _, _ = _problem()
    rng = np.random.RandomState(3)
    theta = rng.randn(9, 2)
    q, _ = np.linalg.qr(rng.randn(8, 2))
    u, v = balanced_init(theta, x, q)
    np.testing.assert_allclose(u @ v.T, theta, atol=1e-12)
    np.testing.assert_allclose(imbalance(u, v, row_space(x)), 0, atol=1e-12)


def test_orthogonal_start_reaches_the_min_norm_map_and_a_random_start_does_not():
    rng = np.random.RandomState(1)
    x, y = rng.randn(6, 9) / 3, rng.randn(6, 1)
    d, h, m = 9, 8, 1
    objective = _objective(d, h, m)
    target = min_norm_map(x, y)
    ends = {}
    for name, (u, v) in {"orthogonal": orthogonal_init(x, m, h, 0.5, rng),
                         "random": (0.5 * rng.randn(d, h), 0.5 * rng.randn(m, h))}.items():
        run = wb.run_gd(objective, _theta(u, v), (jnp.asarray(x), jnp.asarray(y[:, 0])),
                        wb.constant(0.05), max_steps=200_000, target_log_loss=-45.0)
        assert run.trajectory.status_names() == ["target"]
        u_end, v_end = run.theta["layer1"]["w"][0].T, run.theta["layer2"]["w"][0]
        ends[name] = np.linalg.norm(u_end @ v_end.T - target)
    assert ends["orthogonal"] < 1e-8
    assert ends["random"] > 1e-2  # the kernel part of a random start stays
