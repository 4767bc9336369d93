"""Wu et al.'s WN on least squares: projector, invariant and closed-form limit against the
engine's own gradient flow and GD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import wnbias as wb
from wnbias.measure.least_squares import (
    min_norm_solution,
    null_space_projector,
    plain_gd_limit,
    rpgd_stable,
    wn_invariant,
    wn_limit,
    wn_rate_exponent,
    wn_stationary_direction,
)


def _instance(seed=1, n=10, d=30):
    rng = np.random.RandomState(seed)
    a = rng.randn(n, d) / np.sqrt(n)
    y = a @ rng.randn(d)
    w0 = rng.randn(d)
    return a, y, w0 / np.linalg.norm(w0)


def test_projector_and_min_norm_solution():
    a, y, _ = _instance()
    p = null_space_projector(a)
    np.testing.assert_allclose(p @ p, p, atol=1e-12)
    np.testing.assert_allclose(a @ p, 0, atol=1e-12)
    x = min_norm_solution(a, y)
    np.testing.assert_allclose(a @ x, y, atol=1e-12)
    np.testing.assert_allclose(p @ x, 0, atol=1e-12)  # least norm: no part in ker A


@pytest.mark.parametrize(("g0", "c"), [(0.5, 0.3), (6.0, 1.0)])
def test_wn_flow_conserves_the_invariant_and_ends_at_the_closed_form(g0, c):
    a, y, w0 = _instance()
    objective = wb.make_log_loss(wb.deep_linear((30, 1)), wb.get_reparam("swn"),
                                 wb.get_loss("square"))
    theta0 = {"layer1": {"g": jnp.array([g0]), "v": jnp.asarray(w0)[None]}}

    def rates(theta, grad):  # dg/dt = -c dL/dg, dv/dt = -dL/dv
        return {"layer1": {"g": c * grad["layer1"]["g"], "v": grad["layer1"]["v"]}}

    run = wb.run_flow(objective, theta0, (jnp.asarray(a), jnp.asarray(y)),
                      wb.TimeClock(t_end=2e4, target_log_loss=-40.0), preconditioner=rates,
                      rtol=1e-10, atol=1e-12, max_steps=400_000,
                      record=lambda th: {"g": th["layer1"]["g"][0], "v": th["layer1"]["v"][0]})
    t = run.trajectory
    assert t.status_names() == ["target"]
    g, v = t.valid("g"), t.valid("v")
    invariant = wn_invariant(g, v, null_space_projector(a), c)
    np.testing.assert_allclose(invariant, invariant[0], rtol=1e-8)
    limit = wn_limit(a, y, g0, w0, c)
    x = g[-1] * v[-1] / np.linalg.norm(v[-1])
    distance = np.linalg.norm(x - min_norm_solution(a, y))
    assert distance == pytest.approx(limit["distance"], rel=1e-6)
    assert abs(g[-1]) == pytest.approx(limit["abs_g"], rel=1e-6)


def test_closed_form_regimes():
    a, y, w0 = _instance()
    d = np.linalg.norm(min_norm_solution(a, y))
    small = wn_limit(a, y, 0.1, w0, 0.1)
    assert small["distance"] < 1e-6 * d  # exponentially small in (D^2 - g0^2)/c
    large = wn_limit(a, y, 3 * d, w0, 0.1)
    assert large["distance"] == pytest.approx(np.sqrt(9 * d**2 - d**2), rel=0.05)


def test_plain_gd_ends_at_min_norm_plus_the_null_space_part_of_x0():
    a, y, w0 = _instance()
    x0 = 2.0 * w0
    objective = wb.make_log_loss(wb.deep_linear((30, 1)), wb.get_reparam("plain"),
                                 wb.get_loss("square"))
    run = wb.run_gd(objective, {"layer1": {"w": jnp.asarray(x0)[None]}},
                    (jnp.asarray(a), jnp.asarray(y)), wb.constant(0.2), max_steps=50_000,
                    target_log_loss=-60.0)
    assert run.trajectory.status_names() == ["target"]
    np.testing.assert_allclose(run.theta["layer1"]["w"][0, 0], plain_gd_limit(a, y, x0),
                               atol=1e-10)


def test_rpgd_stability_guard():
    a, _, _ = _instance()
    top = np.linalg.norm(a, 2) ** 2
    assert rpgd_stable(1.9 / top, 1.0, a) and not rpgd_stable(2.1 / top, 1.0, a)


def test_rate_exponent_is_the_integral_of_min_c_g_squared():
    a, _, _ = _instance()
    sigma = np.linalg.svd(a, compute_uv=False)[-1]
    t = np.linspace(0, 3, 31)
    np.testing.assert_allclose(wn_rate_exponent(a, t, np.full(31, 2.0), 0.5),
                               2 * sigma**2 * 0.5 * t, rtol=1e-12)  # c < g^2: rate c
    g = np.sqrt(t)  # g^2 = s below c = 10: int_0^t s ds = t^2/2
    np.testing.assert_allclose(wn_rate_exponent(a, t, g, 10.0), sigma**2 * t**2, rtol=1e-12)


def test_stationary_point_g_zero_with_w_orthogonal_to_at_y():
    a, y, w0 = _instance()
    w = wn_stationary_direction(a, y, w0)
    assert np.linalg.norm(w) == pytest.approx(1.0) and abs(w @ (a.T @ y)) < 1e-12
    objective = wb.make_log_loss(wb.deep_linear((30, 1)), wb.get_reparam("swn"),
                                 wb.get_loss("square"))
    theta = {"layer1": {"g": jnp.zeros(1), "v": jnp.asarray(w)[None]}}
    data = (jnp.asarray(a), jnp.asarray(y))
    grad = jax.grad(lambda th: objective.loss(th, *data))(theta)
    assert max(float(jnp.max(jnp.abs(v))) for v in jax.tree.leaves(grad)) < 1e-14
    assert float(objective.loss(theta, *data)) == pytest.approx(y @ y / 2)  # not a minimum
    theta["layer1"]["v"] = jnp.asarray(w0)[None]  # a generic direction is not stationary
    grad = jax.grad(lambda th: objective.loss(th, *data))(theta)
    assert abs(float(grad["layer1"]["g"][0])) > 1e-3
