"""Sparse-recovery references: basis pursuit against brute force, the least-norm interpolant,
the depth-L plain-flow limit (Woodworth et al.'s potential, KKT, alpha -> 0 and alpha -> inf)
and exact paths against solve_ivp, the invariants, measures and instances."""

import itertools
import warnings

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import minimize

from wnbias.errors import UserError
from wnbias.measure.sparse_recovery import (
    depth_l_limit,
    depth_l_single_measurement_path,
    exact_support,
    hyperbolic_entropy,
    hyperbolic_entropy_grad,
    l1_gap,
    make_instance,
    min_l1_interpolant,
    min_l1_norm,
    min_l2_interpolant,
    plain_depth2_invariant,
    plain_depth_l_invariant,
    plain_flow_factors,
    polar_pair_invariant,
    recovery_error,
    support_recovery,
    woodworth_limit,
)


def _instance(m, n, s, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return make_instance(m, n, s, seed)


def _null_projector(a):
    return np.eye(a.shape[1]) - np.linalg.pinv(a) @ a


def _plain_flow(a, y, alpha, depth, t_end, t_eval=None, target=1e-9):
    """Plain gradient flow on (u, v, S) with S' = r = A x - y, to ||r|| <= target."""
    n = a.shape[1]

    def rhs(_, z):
        u, v = z[:n], z[n:2 * n]
        r = a @ (u**depth - v**depth) - y
        g = a.T @ r
        return np.concatenate([-depth * u ** (depth - 1) * g, depth * v ** (depth - 1) * g, r])

    def done(_, z):
        u, v = z[:n], z[n:2 * n]
        return np.linalg.norm(a @ (u**depth - v**depth) - y) - target

    done.terminal = True
    z0 = np.concatenate([np.full(2 * n, alpha), np.zeros(a.shape[0])])
    sol = solve_ivp(rhs, (0, t_end), z0, method="DOP853", rtol=1e-11, atol=1e-13,
                    t_eval=t_eval, events=done)
    assert sol.status in (0, 1), sol.message
    return sol.y[:n], sol.y[n:2 * n], sol.y[2 * n:], sol


# --- basis pursuit and least norm ------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_basis_pursuit_matches_brute_force_over_vertex_supports(seed):
    rng = np.random.default_rng(seed)
    m, n = 3, 6
    a = rng.standard_normal((m, n))
    y = a @ rng.standard_normal(n)  # a dense x: the l1 solution is not x itself
    best, best_z = np.inf, None
    for support in itertools.combinations(range(n), m):  # a vertex has <= M nonzeros
        sub = a[:, support]
        if abs(np.linalg.det(sub)) < 1e-10:
            continue
        z = np.zeros(n)
        z[list(support)] = np.linalg.solve(sub, y)
        if np.abs(z).sum() < best:
            best, best_z = np.abs(z).sum(), z
    z = min_l1_interpolant(a, y)
    np.testing.assert_allclose(a @ z, y, atol=1e-12)
    assert np.abs(z).sum() == pytest.approx(best, rel=1e-12)
    np.testing.assert_allclose(z, best_z, atol=1e-10)
    assert min_l1_norm(a, y) == pytest.approx(best, rel=1e-12)
    unpolished = min_l1_interpolant(a, y, polish=False)
    np.testing.assert_allclose(unpolished, best_z, atol=1e-6)


def test_basis_pursuit_reports_the_solver_status_on_an_infeasible_system():
    a = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    with pytest.raises(UserError, match=r"basis pursuit LP failed: status 2 \(.*nfeasible"):
        min_l1_interpolant(a, np.array([1.0, 1.0]))


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="2-d"):
        min_l1_interpolant(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        min_l2_interpolant(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match="alpha"):
        woodworth_limit(np.ones((1, 2)), np.ones(1), alpha=0.0)
    with pytest.raises(ValueError, match="domain"):
        plain_flow_factors(np.array([1.0]), alpha=1.0, depth=3)  # |3 t| < 1 needed


def test_min_l2_is_the_pseudoinverse_solution():
    a, y, _ = _instance(5, 12, 2)
    x = min_l2_interpolant(a, y)
    np.testing.assert_allclose(x, np.linalg.pinv(a) @ y, atol=1e-13)
    np.testing.assert_allclose(x, np.linalg.lstsq(a, y, rcond=None)[0], atol=1e-12)
    np.testing.assert_allclose(a @ x, y, atol=1e-12)
    np.testing.assert_allclose(_null_projector(a) @ x, 0, atol=1e-12)


# --- the depth-L plain-flow limit ------------------------------------------------------------

@pytest.mark.parametrize("alpha", [1e-3, 0.1, 1.0, 10.0])
def test_woodworth_limit_is_the_kkt_point_of_the_hyperbolic_entropy(alpha):
    a, y, _ = _instance(20, 50, 3)
    x = woodworth_limit(a, y, alpha)
    np.testing.assert_allclose(a @ x, y, atol=1e-10)
    grad = hyperbolic_entropy_grad(x, alpha)  # = A^T nu: orthogonal to ker A
    assert np.linalg.norm(_null_projector(a) @ grad) <= 1e-9 * np.linalg.norm(grad)
    np.testing.assert_allclose(x, 2 * alpha**2 * np.sinh(grad), rtol=1e-12)


def test_woodworth_limit_minimizes_the_potential_over_the_interpolants():
    a, y, _ = _instance(4, 10, 2)
    alpha = 0.3
    base = min_l2_interpolant(a, y)
    null = np.linalg.svd(a)[2][a.shape[0]:].T  # orthonormal basis of ker A
    res = minimize(lambda w: hyperbolic_entropy(base + null @ w, alpha), np.zeros(null.shape[1]),
                   jac=lambda w: null.T @ hyperbolic_entropy_grad(base + null @ w, alpha),
                   method="BFGS", options={"gtol": 1e-12})
    x = woodworth_limit(a, y, alpha)
    np.testing.assert_allclose(x, base + null @ res.x, atol=1e-7)
    assert hyperbolic_entropy(x, alpha) <= res.fun + 1e-12


def test_woodworth_limit_tends_to_min_l1_at_small_and_min_l2_at_large_alpha():
    a, y, _ = _instance(20, 50, 3)
    x1, x2 = min_l1_interpolant(a, y), min_l2_interpolant(a, y)
    to_l1 = [recovery_error(woodworth_limit(a, y, al), x1) for al in (1e-1, 1e-2, 1e-3)]
    assert to_l1[0] > to_l1[1] > to_l1[2]
    assert to_l1[2] < 1e-2 * np.linalg.norm(x1)  # slow: off-support entries ~ alpha^(2 gap)
    assert l1_gap(woodworth_limit(a, y, 1e-3), a, y) < 1e-2 * np.abs(x1).sum()
    # kernel regime: Q_alpha = ||x||^2 / (4 alpha^2) + O(alpha^-6), so x - A^+ y = O(alpha^-4)
    to_l2 = [recovery_error(woodworth_limit(a, y, al), x2) for al in (5.0, 10.0)]
    assert to_l2[1] < 1e-5 * np.linalg.norm(x2)
    assert to_l2[0] / to_l2[1] == pytest.approx(16, rel=0.05)


@pytest.mark.parametrize(("depth", "alpha"), [(3, 1e-3), (4, 1e-3), (3, 10.0), (4, 10.0)])
def test_deeper_limits_interpolate_and_approach_l1_and_l2(depth, alpha):
    a, y, _ = _instance(20, 50, 3)
    x = depth_l_limit(a, y, alpha, depth)
    np.testing.assert_allclose(a @ x, y, atol=1e-8)
    target = min_l1_interpolant(a, y) if alpha < 1 else min_l2_interpolant(a, y)
    assert recovery_error(x, target) < 1e-6 * np.linalg.norm(target)


@pytest.mark.parametrize(("depth", "alpha"), [(2, 0.3), (2, 1.0), (3, 0.3)])
def test_plain_flow_follows_the_path_and_ends_at_the_limit(depth, alpha):
    a, y, _ = _instance(4, 10, 2, seed=3)
    t_eval = np.linspace(0, 5, 11)
    u, v, s, _ = _plain_flow(a, y, alpha, depth, t_end=5, t_eval=t_eval, target=0)
    pu, pv = plain_flow_factors((a.T @ s).T, alpha, depth)
    np.testing.assert_allclose(pu, u.T, rtol=1e-8)
    np.testing.assert_allclose(pv, v.T, rtol=1e-8)
    u, v, _, sol = _plain_flow(a, y, alpha, depth, t_end=1e4)
    assert sol.status == 1  # reached ||A x - y|| <= 1e-9 (about the ODE's own error at rtol 1e-11)
    x = u[:, -1] ** depth - v[:, -1] ** depth
    np.testing.assert_allclose(x, depth_l_limit(a, y, alpha, depth), atol=1e-7)
    if depth == 2:
        np.testing.assert_allclose(x, woodworth_limit(a, y, alpha), atol=1e-7)


@pytest.mark.parametrize(("depth", "alpha"), [(2, 0.5), (3, 0.5), (4, 0.7)])
def test_single_measurement_path_matches_the_flow(depth, alpha):
    rng = np.random.default_rng(depth)
    a_row = rng.standard_normal(8) / np.sqrt(8)
    y = 1.3
    u, v, s, sol = _plain_flow(a_row[None], np.array([y]), alpha, depth, t_end=1e5,
                               target=1e-10)
    assert sol.status == 1
    path = depth_l_single_measurement_path(a_row, y, alpha, depth, s_grid=s[0])
    np.testing.assert_allclose(path["u"], u.T, rtol=1e-8)
    np.testing.assert_allclose(path["v"], v.T, rtol=1e-8)
    np.testing.assert_allclose(path["x"], (u**depth - v**depth).T, rtol=1e-8, atol=1e-12)
    assert path["s_inf"] == pytest.approx(s[0, -1], rel=1e-7)
    assert np.sign(path["s_inf"]) == -np.sign(y)  # r starts at -y
    np.testing.assert_allclose(path["x_inf"], path["x"][-1], atol=1e-9)
    assert a_row @ path["x_inf"] == pytest.approx(y, rel=1e-13)
    np.testing.assert_allclose(path["x_inf"],
                               depth_l_limit(a_row[None], np.array([y]), alpha, depth),
                               atol=1e-11)


def test_single_measurement_limit_near_the_domain_edge():
    a_row = np.array([1.0, -0.5, 0.25])
    path = depth_l_single_measurement_path(a_row, -50.0, 0.5, 3)  # x far out: S near the edge
    assert a_row @ path["x_inf"] == pytest.approx(-50.0, rel=1e-12)
    assert 0 < path["s_inf"] < 0.5 ** -1 / 3


# --- invariants ------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [2, 3])
def test_plain_flow_invariants(depth):
    a, y, _ = _instance(4, 10, 2, seed=1)
    alpha = 0.4
    u, v, _, _ = _plain_flow(a, y, alpha, depth, t_end=20, t_eval=np.linspace(0, 20, 21))
    values = plain_depth_l_invariant(u, v, depth)
    expected = alpha**2 if depth == 2 else 2 * alpha ** (2.0 - depth)
    np.testing.assert_allclose(values, expected, rtol=1e-9)
    if depth == 2:
        np.testing.assert_allclose(plain_depth2_invariant(u, v), alpha**2, rtol=1e-9)


def test_polar_pair_invariant_along_the_wn_flow():
    a, y, _ = _instance(4, 10, 2, seed=2)
    alpha, eta_r, eta_theta = 1.0, 1.0, 0.05
    n = a.shape[1]

    def rhs(_, z):
        r, phi = z[:n], z[n:]
        g = a.T @ (a @ (r**2 * np.cos(2 * phi)) - y)
        return np.concatenate([-eta_r * 2 * r * np.cos(2 * phi) * g,
                               eta_theta * 2 * r**2 * np.sin(2 * phi) * g])

    z0 = np.concatenate([np.full(n, alpha * np.sqrt(2)), np.full(n, np.pi / 4)])
    sol = solve_ivp(rhs, (0, 30), z0, method="DOP853", rtol=1e-11, atol=1e-13,
                    t_eval=np.linspace(0, 30, 31))
    r, phi = sol.y[:n], sol.y[n:]
    x = r[:, -1] ** 2 * np.cos(2 * phi[:, -1])
    assert np.linalg.norm(a @ x - y) < 1e-3 * np.linalg.norm(y)  # it did move
    assert np.ptp(phi) > 0.1
    np.testing.assert_allclose(polar_pair_invariant(r, phi, eta_r / eta_theta), 2 * alpha**2,
                               rtol=1e-8)
    # the plain-flow invariant u v = r^2 sin(2 phi) / 2 is not conserved here
    assert np.ptp(plain_depth2_invariant(r * np.cos(phi), r * np.sin(phi))) > 0.1


# --- measures and instances ------------------------------------------------------------------

def test_measures():
    a, y, x_star = _instance(20, 50, 3)
    x1, x2 = min_l1_interpolant(a, y), min_l2_interpolant(a, y)
    assert l1_gap(x1, a, y) == pytest.approx(0, abs=1e-12)
    assert l1_gap(x2, a, y) > 0.1
    assert l1_gap(x2, a, y, l1_min=np.abs(x1).sum()) == pytest.approx(l1_gap(x2, a, y))
    assert recovery_error(x1, x_star) < 1e-12  # M = 20 > 2 s ln(N/s) = 16.9: recovered
    x = np.array([0.0, 3.0, -0.1, 0.0, -2.0])
    x_true = np.array([0.0, 1.0, 0.0, 0.0, 1.0])
    assert recovery_error(x, x_true) == pytest.approx(np.sqrt(4 + 0.01 + 9))
    assert support_recovery(x, x_true) == 1.0
    assert support_recovery(x, np.array([1.0, 1.0, 0, 0, 0])) == 0.5
    assert support_recovery(x, np.zeros(5)) == 1.0
    assert exact_support(x, x_true, threshold=0.5)
    assert not exact_support(x, x_true, threshold=0.05)


def test_make_instance():
    a, y, x_star = make_instance(40, 60, 4, seed=5)
    assert a.shape == (40, 60) and y.shape == (40,) and x_star.shape == (60,)
    assert np.count_nonzero(x_star) == 4
    np.testing.assert_allclose(y, a @ x_star)
    assert np.var(a) == pytest.approx(1 / 40, rel=0.1)
    a2, y2, x2 = make_instance(40, 60, 4, seed=5)
    np.testing.assert_array_equal(a, a2)
    _, _, signs = make_instance(40, 60, 4, seed=5, values="sign")
    assert set(np.abs(signs[signs != 0])) == {1.0}
    a3, y3, x3 = make_instance(40, 60, 4, seed=5, noise=0.1)
    assert 0 < np.linalg.norm(y3 - a3 @ x3) < 1.5
    with pytest.warns(UserWarning, match="recovery threshold"):
        make_instance(10, 100, 5, seed=0)  # 10 < 2 * 5 ln 20 = 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_instance(40, 100, 5, seed=0)
    with pytest.raises(ValueError, match="exceeds"):
        make_instance(5, 4, 5, seed=0)
    with pytest.raises(ValueError, match="values"):
        make_instance(5, 10, 1, seed=0, values="uniform")
