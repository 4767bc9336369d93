"""Matrix-free Hessian tools against dense Hessians, finite differences, closed forms and the
Euler identity of WeightNorm's scale invariance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from wnbias.measure.hessian import (
    Eigen,
    dense_hessian,
    extreme_eigenvalues,
    hessian_operator,
    hutchinson_trace,
    hvp,
    min_row_norm,
    power_iteration,
    predictor_hessian_norm,
    spectral_norm,
)

D, M, K, N = 6, 12, 2, 15  # inputs, hidden width, outputs, examples: P = 6*12+12+12*2+2 = 110


def _net_params(seed=0, dtype=jnp.float64):
    rng = np.random.RandomState(seed)
    params = {"hidden": {"w": rng.randn(M, D) / np.sqrt(D), "b": 0.5 * rng.randn(M)},
              "out": {"w": rng.randn(K, M) / np.sqrt(M), "b": 0.5 * rng.randn(K)}}
    return jax.tree.map(lambda a: jnp.asarray(a, dtype), params)


def _predict(theta, x):
    """A two-layer tanh net, (n, D) -> (n, K)."""
    a = jnp.tanh(x @ theta["hidden"]["w"].T + theta["hidden"]["b"])
    return a @ theta["out"]["w"].T + theta["out"]["b"]


_RNG = np.random.RandomState(7)
X = jnp.asarray(_RNG.randn(N, D))
Y = jnp.asarray(_RNG.randn(N, K))


def _loss(theta):
    """Mean squared error of the tanh net on (X, Y): one function object for the whole file,
    so its jitted HVPs compile once."""
    return 0.5 * jnp.mean(jnp.sum((_predict(theta, X.astype(theta["out"]["b"].dtype))
                                   - Y.astype(theta["out"]["b"].dtype)) ** 2, axis=1))


def _random_tangent(theta, seed=3):
    flat, unravel = ravel_pytree(theta)
    return unravel(jnp.asarray(np.random.RandomState(seed).randn(flat.size), flat.dtype))


@pytest.fixture(scope="module")
def net():
    theta = _net_params()
    return theta, dense_hessian(_loss, theta)


def test_hvp_matches_finite_differences_and_dense(net):
    theta, h = net
    v = _random_tangent(theta)
    got = ravel_pytree(hvp(_loss, theta, v))[0]
    flat, unravel = ravel_pytree(theta)
    vf = ravel_pytree(v)[0]
    grad = jax.grad(lambda f: _loss(unravel(f)))
    eps = 1e-4
    fd = (grad(flat + eps * vf) - grad(flat - eps * vf)) / (2 * eps)
    assert np.linalg.norm(got - fd) < 1e-6 * np.linalg.norm(got)
    np.testing.assert_allclose(got, h @ vf, rtol=0, atol=1e-12 * np.linalg.norm(got))


def test_dense_hessian_of_quadratic_is_a():
    rng = np.random.RandomState(0)
    a = rng.randn(5, 5)
    a = jnp.asarray(a + a.T)
    b = jnp.asarray(rng.randn(5))
    theta = {"x": jnp.asarray(rng.randn(2)), "y": jnp.asarray(rng.randn(3))}

    def quad(th):
        x = ravel_pytree(th)[0]
        return 0.5 * x @ a @ x + b @ x

    np.testing.assert_allclose(dense_hessian(quad, theta), a, rtol=0, atol=1e-12)


def test_dense_hessian_of_net_matches_finite_differences(net):
    theta, h = net
    flat, unravel = ravel_pytree(theta)
    assert h.shape == (flat.size, flat.size) and h.dtype == np.float64
    np.testing.assert_allclose(h, h.T, rtol=0, atol=1e-13 * np.abs(h).max())
    grad = jax.jit(jax.grad(lambda f: _loss(unravel(f))))
    eps = 1e-4
    for j in (0, 40, flat.size - 1):  # a hidden weight, a hidden bias, an output bias
        e = jnp.zeros(flat.size).at[j].set(eps)
        fd = (grad(flat + e) - grad(flat - e)) / (2 * eps)
        np.testing.assert_allclose(h[:, j], fd, rtol=0, atol=1e-7 * np.abs(h).max())


def test_lanczos_matches_dense_spectrum(net):
    theta, h = net
    eig = np.linalg.eigvalsh(h)
    assert eig[0] < 0 < eig[-1]  # away from a minimum: both signs present
    top, bottom = extreme_eigenvalues(_loss, theta, tol=1e-10)
    norm = spectral_norm(_loss, theta, tol=1e-10)
    for got, want in ((top, eig[-1]), (bottom, eig[0]), (norm, np.abs(eig).max())):
        assert got.converged and got.value is not None
        assert abs(got.value - want) < 1e-8 * abs(want)
        assert got.residual < 1e-6
        assert 0 < got.matvecs < 2000
    assert str(top).startswith(f"{top.value:.6g} (residual ")


def _data_loss(theta, x, y):
    return 0.5 * jnp.mean(jnp.sum((_predict(theta, x) - y) ** 2, axis=1))


def test_data_as_args_give_the_same_spectrum_and_one_program(net, compilations):
    """fun(theta, *args) with the data as traced args: the spectrum of the closure's, and
    other data of the same shapes reuse the compiled HVP."""
    theta, h = net
    eig = np.linalg.eigvalsh(h)
    top, bottom = extreme_eigenvalues(_data_loss, theta, args=(X, Y), tol=1e-10)
    assert abs(top.value - eig[-1]) < 1e-8 * abs(eig[-1])
    assert abs(bottom.value - eig[0]) < 1e-8 * abs(eig[0])
    x2 = 2 * X
    with compilations() as compiled:
        other = spectral_norm(_data_loss, theta, args=(x2, Y), tol=1e-8)
    assert not compiled, dict(compiled)
    want = np.abs(np.linalg.eigvalsh(dense_hessian(lambda th: _data_loss(th, 2 * X, Y),
                                                   theta))).max()
    assert other.converged and abs(other.value - want) < 1e-6 * want


def test_operator_counts_matvecs_and_compiles_in_float32():
    theta32 = _net_params(dtype=jnp.float32)
    op = hessian_operator(_loss, theta32)
    p = op.shape[0]
    v = np.random.RandomState(1).randn(p)
    y = op.matvec(v)
    assert y.dtype == np.float64 and y.shape == (p,) and op.matvecs == 1
    op.matmat(np.stack([v, v], axis=1))
    assert op.matvecs == 3
    h = dense_hessian(_loss, _net_params())
    np.testing.assert_allclose(y, h @ v, rtol=0, atol=1e-4 * np.linalg.norm(h @ v))
    norm = spectral_norm(_loss, theta32, tol=1e-5)
    want = np.abs(np.linalg.eigvalsh(h)).max()
    assert norm.converged and abs(norm.value - want) < 1e-4 * want


def test_non_convergence_reports_residual(net):
    theta, _ = net
    top, bottom = extreme_eigenvalues(_loss, theta, tol=1e-14, maxiter=1, ncv=3)
    # spectral_norm has no ncv: ARPACK's 20 Lanczos vectors cannot resolve 200 evenly spread
    # eigenvalues to 1e-14 in one restart
    spread = jnp.asarray(np.linspace(1.0, 2.0, 200))
    norm = spectral_norm(lambda th: 0.5 * th @ (spread * th), jnp.ones(200), tol=1e-14,
                         maxiter=1)
    for e in (top, bottom, norm):
        assert not e.converged and e.value is None
        assert np.isfinite(e.residual) and e.residual > 0
        assert e.matvecs > 1
        assert str(e).startswith("not converged (residual ")
        assert str(e).endswith(f"after {e.matvecs} HVPs)")


def _diagonalized(eigenvalues, seed=0):
    q, _ = np.linalg.qr(np.random.RandomState(seed).randn(len(eigenvalues), len(eigenvalues)))
    return jnp.asarray(q @ np.diag(eigenvalues) @ q.T)


A_GAP = _diagonalized(np.array([-10.0, 3.0, 2.0, 1.0, 0.5, -0.5, -2.0, -3.0]))


def _gap_quadratic(th):
    return 0.5 * th @ A_GAP @ th


def test_power_iteration_agrees_with_lanczos():
    theta = jnp.zeros(8)
    lanczos = spectral_norm(_gap_quadratic, theta, tol=1e-12)
    power = power_iteration(_gap_quadratic, theta, key=jax.random.key(0), iters=200, tol=1e-12)
    assert lanczos.converged and power.converged
    assert abs(lanczos.value - 10.0) < 1e-10
    assert abs(power.value - lanczos.value) < 1e-9 * lanczos.value  # the dominant is -10
    assert power.residual < 1e-5 and 3 < power.matvecs < 200
    short = power_iteration(_gap_quadratic, theta, key=jax.random.key(0), iters=3, tol=1e-12)
    assert not short.converged and short.value is None and short.matvecs == 4
    assert "not converged" in str(short)


def test_hutchinson_trace_within_standard_errors(net):
    theta, h = net
    trace = np.trace(h)
    few = hutchinson_trace(_loss, theta, key=jax.random.key(1), samples=20)
    many = hutchinson_trace(_loss, theta, key=jax.random.key(2), samples=320)
    for estimate, se in (few, many):
        assert se > 0 and abs(estimate - trace) < 4 * se
    assert many[1] < 0.5 * few[1]  # ~ 1/sqrt(16) = 0.25
    with pytest.raises(ValueError, match="samples"):
        hutchinson_trace(_loss, theta, key=jax.random.key(0), samples=1)


def test_predictor_hessian_norm_matches_dense_and_compiles_once(compilations):
    theta = _net_params(1)
    x = jnp.asarray(np.random.RandomState(2).randn(3, D))
    best, records = predictor_hessian_norm(_predict, theta, x, tol=1e-10)
    assert [(r["input"], r["output"]) for r in records] == [(i, k) for i in range(3)
                                                            for k in range(K)]
    for r in records:
        h = dense_hessian(lambda th, r=r: _predict(th, x[r["input"]][None])[0, r["output"]],
                          theta)
        want = np.abs(np.linalg.eigvalsh(h)).max()
        assert r["converged"] and abs(r["value"] - want) < 1e-8 * want
        assert r["residual"] < 1e-4
    assert best == max(r["value"] for r in records)

    other = jnp.asarray(np.random.RandomState(3).randn(3, D))
    with compilations() as compiled:  # other inputs, same shapes: the same program
        assert predictor_hessian_norm(_predict, theta, other, tol=1e-10)[0] != best
    assert not compiled, dict(compiled)
    x2 = jnp.asarray(np.random.RandomState(3).randn(2, D))
    best2, records2 = predictor_hessian_norm(_predict, theta, x2, outputs=[1])
    assert [(r["input"], r["output"]) for r in records2] == [(0, 1), (1, 1)]
    assert best2 is not None and best2 > 0


def _wn_loss(params, x, y, c=1.5):
    """A WeightNorm MLP without gain: a_l = tanh((c / sqrt(m)) Wbar_l a_{l-1}), rows of Wbar_l
    the normalized w_i / ||w_i||, output V free; mean squared error."""
    a = x
    for layer in ("w1", "w2"):
        w = params[layer]
        wbar = w / jnp.linalg.norm(w, axis=1, keepdims=True)
        a = jnp.tanh((c / np.sqrt(w.shape[0])) * a @ wbar.T)
    return 0.5 * jnp.mean(jnp.sum((a @ params["v"].T - y) ** 2, axis=1))


def test_euler_identity_of_scale_invariance():
    rng = np.random.RandomState(4)
    d, m, k, n = 3, 4, 2, 5
    params = {"w1": jnp.asarray(rng.randn(m, d)), "w2": jnp.asarray(rng.randn(m, m)),
              "v": jnp.asarray(rng.randn(k, m))}
    x, y = jnp.asarray(rng.randn(n, d)), jnp.asarray(rng.randn(n, k))

    def loss(th):
        return _wn_loss(th, x, y)

    grads = jax.tree.map(np.asarray, jax.jit(jax.grad(loss))(params))
    row_hvp = jax.jit(lambda th, t: ravel_pytree(hvp(loss, th, t))[0])
    zeros = {name: np.zeros(p.shape) for name, p in params.items()}
    for layer in ("w1", "w2"):
        for i in range(m):
            w_i, g_i = np.asarray(params[layer][i]), grads[layer][i]
            assert abs(g_i @ w_i) < 1e-12 * np.linalg.norm(g_i) * np.linalg.norm(w_i)
            tangent = {name: z.copy() for name, z in zeros.items()}
            tangent[layer][i] = w_i
            want = {name: z.copy() for name, z in zeros.items()}
            want[layer][i] = -g_i
            err = np.linalg.norm(row_hvp(params, tangent) - ravel_pytree(want)[0])
            assert err < 1e-10 * np.linalg.norm(g_i)


def test_min_row_norm():
    layers = {"a": jnp.array([[3.0, 4.0], [1.5, 0.0]]),  # row norms 5, 1.5
              "b": jnp.array([[[0.6], [0.8]], [[2.0], [0.0]]])}  # (2, 2, 1): norms 1, 2
    assert min_row_norm(layers) == pytest.approx(1.0, abs=1e-15)
    assert min_row_norm({"b": layers["b"] * 0.5}) == pytest.approx(0.5, abs=1e-15)
    with pytest.raises(ValueError):
        min_row_norm({})


def test_eigen_str():
    assert str(Eigen(3.21, 2e-9, True, 30)) == "3.21 (residual 2e-09)"
    assert str(Eigen(None, 0.3, False, 40)) == "not converged (residual 0.3 after 40 HVPs)"
