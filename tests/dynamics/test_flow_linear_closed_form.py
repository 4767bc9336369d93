"""Gradient flow of two-layer linear networks against the exact solution from a lambda-balanced
start with whitened inputs (Saxe et al. 2014 at lambda = 0; Braun et al. 2022; Dominé et al.
2025): the whole trajectory of the engine, and the closed form on its own (Riccati equation,
conserved balancedness, least-squares limit, refused starts)."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import wnbias as wb
from wnbias.measure.exact_flows import (
    balance_level,
    flow_matrix,
    lambda_balanced_flow,
    random_lambda_balanced,
    regression_moments,
)

T_END = 20.0

# (d_in, h, d_out, lambda, init scale): Saxe's small balanced start (saddle to saddle), both
# signs of lambda, and rectangular shapes (lambda > 0 needs d_out >= h, lambda < 0 d_in >= h).
INSTANCES = {
    "saxe-small": (3, 3, 3, 0.0, 0.01),
    "saxe": (3, 3, 3, 0.0, 0.1),
    "saxe-rect": (4, 3, 3, 0.0, 0.1),
    "lambda+": (3, 3, 3, 0.5, 0.3),
    "lambda-": (3, 3, 3, -0.5, 0.3),
    "lambda+rect": (3, 2, 4, 1.0, 0.3),
    "lambda-rect": (4, 3, 2, -1.0, 0.3),
}


def whitened_problem(d_in, d_out, rng):
    """X (n x d_in) with orthonormal columns (Sigma_xx = X^T X = I) and Gaussian targets Y."""
    x, _ = np.linalg.qr(rng.standard_normal((d_in + 3, d_in)))
    return x, 1.5 * rng.standard_normal((d_in + 3, d_out))


def instance(name):
    d_in, h, d_out, lam, scale = INSTANCES[name]
    rng = np.random.default_rng(list(INSTANCES).index(name))
    x, y = whitened_problem(d_in, d_out, rng)
    w1, w2 = random_lambda_balanced(d_in, h, d_out, lam, rng, scale=scale)
    return x, y, w1, w2


@pytest.fixture(scope="module")
def engine_run():
    """One engine flow of every instance at once, as the blocks of one block-diagonal network.

    With block-diagonal X, Y, W1 and W2 the residual and both gradients stay block-diagonal, so
    each block follows its own instance's flow exactly; one solve compiles once (a few seconds)
    instead of once per instance.
    """
    parts = [instance(name) for name in INSTANCES]
    x, y, w1, w2 = (scipy.linalg.block_diag(*(p[i] for p in parts)) for i in range(4))
    d_in, h, d_out = x.shape[1], w1.shape[0], w2.shape[0]
    model = wb.deep_linear((d_in, h, d_out))
    reparam = wb.get_reparam("plain")
    objective = wb.make_log_loss(model, reparam, wb.get_loss("square"))
    theta0 = wb.encode({"layer1": jnp.asarray(w1), "layer2": jnp.asarray(w2)}, reparam)

    def record(theta):
        a, b = theta["layer1"]["w"], theta["layer2"]["w"]
        return {"map": b @ a, "w1t_w1": a.T @ a, "w2_w2t": b @ b.T}

    run = wb.run_flow(objective, theta0, (jnp.asarray(x), jnp.asarray(y)),
                      clock=wb.TimeClock(t_end=T_END), record=record, rtol=1e-10, atol=1e-12,
                      n_save=100)
    assert run.trajectory.status_names() == ["target"]
    offsets = {}
    starts = np.zeros(3, dtype=int)
    for name, (di, _, do, _, _) in INSTANCES.items():
        offsets[name] = (slice(starts[0], starts[0] + di), slice(starts[2], starts[2] + do))
        starts += (di, 0, do)
    return run.trajectory, offsets


def relative_errors(a, b):
    """||a(t) - b(t)||_F / ||b(t)||_F at every t."""
    return np.linalg.norm(a - b, axis=(1, 2)) / np.linalg.norm(b, axis=(1, 2))


@pytest.mark.parametrize("name", list(INSTANCES))
def test_engine_flow_follows_the_closed_form_along_the_whole_trajectory(engine_run, name):
    trajectory, offsets = engine_run
    x, y, w1, w2 = instance(name)
    sigma_xx, sigma_yx = regression_moments(x, y)
    t = trajectory.valid("t")
    assert t[0] == 0.0 and t[-1] == pytest.approx(T_END) and len(t) == 100
    exact = lambda_balanced_flow(w1, w2, sigma_yx, t, sigma_xx=sigma_xx)
    assert exact["lambda"] == pytest.approx(INSTANCES[name][3], abs=1e-12)
    rows, cols = offsets[name][1], offsets[name][0]
    engine = {"map": trajectory.valid("map")[:, rows, cols],
              "w1t_w1": trajectory.valid("w1t_w1")[:, cols, cols],
              "w2_w2t": trajectory.valid("w2_w2t")[:, rows, rows]}
    for key, value in engine.items():
        assert relative_errors(value, exact[key]).max() < 1e-7, key
    # the flow really moved: from the start to (near) the least-squares map at t = 20
    assert np.linalg.norm(exact["map"][-1] - exact["map"][0]) > 0.5 * np.linalg.norm(sigma_yx)


def test_engine_blocks_stay_decoupled(engine_run):
    trajectory, offsets = engine_run
    maps = trajectory.valid("map")
    mask = np.ones(maps.shape[1:], dtype=bool)
    for cols, rows in offsets.values():
        mask[rows, cols] = False
    assert np.max(np.abs(maps[:, mask])) <= 1e-12 * np.max(np.abs(maps))


@pytest.mark.parametrize("name", list(INSTANCES))
def test_closed_form_solves_the_riccati_equation_and_conserves_balance(name):
    """dP/dt = FP + PF - P^2 by central differences, and Q^T J Q = lambda I, PJP = lambda P."""
    x, y, w1, w2 = instance(name)
    d_in, d_out = x.shape[1], y.shape[1]
    sigma_yx = regression_moments(x, y)[1]
    lam = INSTANCES[name][3]
    f = flow_matrix(sigma_yx, lam)
    dt = 1e-5
    for t in (0.0, 0.7, 3.0, 12.0):
        p_plus, p, p_minus = lambda_balanced_flow(w1, w2, sigma_yx, [t + dt, t, t - dt]
                                                  if t > 0 else [dt, 0.0, 0.0])["qqt"]
        derivative = (p_plus - p_minus) / (2 * dt) if t > 0 else (p_plus - p) / dt
        riccati = f @ p + p @ f - p @ p
        tol = (1e-7 if t > 0 else 1e-4) * max(1.0, np.linalg.norm(riccati))
        assert np.linalg.norm(derivative - riccati) < tol, t
    times = np.linspace(0.0, 50.0, 26)
    exact = lambda_balanced_flow(w1, w2, sigma_yx, times)
    j = np.diag(np.r_[-np.ones(d_in), np.ones(d_out)])
    h = w1.shape[0]
    for q, p in zip(exact["q"], exact["qqt"], strict=True):
        np.testing.assert_allclose(q.T @ j @ q, lam * np.eye(h), atol=1e-11)
        np.testing.assert_allclose(p @ j @ p, lam * p, atol=1e-10)
    np.testing.assert_allclose(exact["qqt"][0][d_in:, :d_in], w2 @ w1, atol=1e-15)


@pytest.mark.parametrize("name", ["lambda+", "lambda-", "lambda-rect"])
def test_closed_form_is_braun_et_al_formula_for_invertible_f(name):
    """e^{Ft} Q0 [I + Q0^T F^{-1} (e^{2Ft} - I) Q0 / 2]^{-1} Q0^T e^{Ft} (scipy's expm), at times
    where the one-shot formula is still well-conditioned; and the composed evaluation agrees."""
    x, y, w1, w2 = instance(name)
    sigma_yx = regression_moments(x, y)[1]
    f = flow_matrix(sigma_yx, INSTANCES[name][3])
    q0 = np.concatenate([w1.T, w2])
    times = [0.0, 0.1, 0.5, 1.0]
    composed = lambda_balanced_flow(w1, w2, sigma_yx, times)["qqt"]
    one_shot = lambda_balanced_flow(w1, w2, sigma_yx, times, step_exponent=np.inf)["qqt"]
    for t, p, p1 in zip(times, composed, one_shot, strict=True):
        e = scipy.linalg.expm(f * t)
        k = np.eye(q0.shape[1]) + 0.5 * q0.T @ np.linalg.solve(
            f, scipy.linalg.expm(2 * f * t) - np.eye(len(f))) @ q0
        braun = e @ q0 @ np.linalg.solve(k, q0.T @ e)
        np.testing.assert_allclose(p, braun, atol=1e-10 * max(1.0, np.abs(braun).max()))
        np.testing.assert_allclose(p, p1, atol=1e-11 * max(1.0, np.abs(braun).max()))


@pytest.mark.parametrize("name", list(INSTANCES))
def test_closed_form_limit_is_the_least_squares_map(name):
    """W2 W1 -> Sigma_yx (h >= rank), or its best rank-h approximation (h < rank)."""
    x, y, w1, w2 = instance(name)
    sigma_yx = regression_moments(x, y)[1]
    h = w1.shape[0]
    u, s, vt = np.linalg.svd(sigma_yx, full_matrices=False)
    target = (u[:, :h] * s[:h]) @ vt[:h]
    if h >= len(s):
        np.testing.assert_allclose(target, sigma_yx, atol=1e-12)
    limit = lambda_balanced_flow(w1, w2, sigma_yx, [200.0, 1e3])["map"]
    for m in limit:
        np.testing.assert_allclose(m, target, atol=1e-10 * np.abs(target).max())


def test_not_balanced_or_not_whitened_is_refused():
    rng = np.random.default_rng(7)
    w1, w2 = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    sigma_yx = rng.standard_normal((3, 3))
    with pytest.raises(ValueError, match="not lambda-balanced"):
        lambda_balanced_flow(w1, w2, sigma_yx, [1.0])
    w1, w2 = random_lambda_balanced(3, 3, 3, 0.4, rng)
    assert balance_level(w1, w2) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="not lambda-balanced"):
        lambda_balanced_flow(w1, w2 * (1 + 1e-4), sigma_yx, [1.0])
    with pytest.raises(ValueError, match="not whitened"):
        lambda_balanced_flow(w1, w2, sigma_yx, [1.0], sigma_xx=2.0 * np.eye(3))
    with pytest.raises(ValueError, match="sigma_yx must be"):
        lambda_balanced_flow(w1, w2, sigma_yx[:2], [1.0])
    with pytest.raises(ValueError, match="d_out >= h"):
        random_lambda_balanced(3, 3, 2, 0.5, rng)
    with pytest.raises(ValueError, match="d_in >= h"):
        random_lambda_balanced(2, 3, 3, -0.5, rng)
