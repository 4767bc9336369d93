import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wnbias import Loss, get_loss, log_softplus


def naive_log_total(name, f, y):
    if name == "exponential":
        return np.log(np.sum(np.exp(-y * f)))
    if name == "logistic":
        return np.log(np.sum(np.log1p(np.exp(-y * f))))
    f_true = f[np.arange(len(y)), y]
    mask = np.arange(f.shape[1])[None, :] != y[:, None]
    return np.log(np.sum(np.log1p(np.sum(np.exp(f - f_true[:, None]) * mask, axis=1))))


@pytest.mark.parametrize("name", ["exponential", "logistic"])
def test_binary_log_loss_matches_naive_where_finite(name):
    rng = np.random.default_rng(0)
    f, y = rng.normal(0, 5, 50), rng.choice([-1.0, 1.0], 50)
    np.testing.assert_allclose(get_loss(name).log_total(jnp.asarray(f), jnp.asarray(y)),
                               naive_log_total(name, f, y), rtol=1e-13)


def test_cross_entropy_matches_naive_where_finite():
    rng = np.random.default_rng(1)
    f, y = rng.normal(0, 4, (30, 5)), rng.integers(0, 5, 30)
    np.testing.assert_allclose(get_loss("cross_entropy").log_total(jnp.asarray(f), jnp.asarray(y)),
                               naive_log_total("cross_entropy", f, y), rtol=1e-13)


@pytest.mark.parametrize("z", [-35.0, -30.5, -29.5, -5.0, 0.0, 3.0, 40.0])
def test_log_softplus_matches_high_precision(z):
    import mpmath

    exact = float(mpmath.log(mpmath.log1p(mpmath.exp(mpmath.mpf(z)))))
    np.testing.assert_allclose(log_softplus(jnp.asarray(z)), exact, rtol=1e-14)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
@pytest.mark.parametrize("name", ["exponential", "logistic"])
def test_log_loss_finite_at_huge_margins(name, dtype):
    f = jnp.asarray([1e3, 2e3, 1.5e3], dtype)
    y = jnp.ones(3, dtype)
    loss = get_loss(name)
    value = loss.log_total(f, y)
    assert value.dtype == dtype
    np.testing.assert_allclose(value, -1e3, rtol=1e-6)  # dominated by the smallest margin
    grad = jax.grad(lambda f: loss.log_total(f, y))(f)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [-1.0, 0.0, 0.0], atol=1e-6)


def test_cross_entropy_finite_at_huge_margins():
    f = jnp.asarray([[1e3, 0.0, -5.0], [0.0, 2e3, 1.0]])
    y = jnp.asarray([0, 1])
    loss = get_loss("cross_entropy")
    # l_1 = e^-1000 (1 + e^-5); l_2 = e^-1999 (1 + e^-1) is negligible beside it
    np.testing.assert_allclose(loss.log_total(f, y), -1e3 + np.log1p(np.exp(-5.0)), rtol=1e-15)
    assert np.all(np.isfinite(jax.grad(lambda f: loss.log_total(f, y))(f)))
    np.testing.assert_allclose(loss.margins(f, y), [1e3, 2e3 - 1.0])


def test_unknown_loss():
    with pytest.raises(ValueError, match="allowed: exponential, logistic, cross_entropy"):
        get_loss("hinge")


def _square_data():
    rng = np.random.default_rng(2)
    return rng.normal(0, 2, 20), rng.normal(0, 1, 20)


def test_square_loss_and_gradient_match_a_direct_computation():
    f, y = _square_data()
    loss = get_loss("square")
    total = np.sum((f - y) ** 2) / 2
    np.testing.assert_allclose(loss.log_total(jnp.asarray(f), jnp.asarray(y)), np.log(total),
                               rtol=1e-14)
    np.testing.assert_allclose(loss.log_per_example(jnp.asarray(f), jnp.asarray(y)),
                               np.log((f - y) ** 2 / 2), rtol=1e-13)
    grad = jax.grad(lambda f: loss.log_total(f, jnp.asarray(y)))(jnp.asarray(f))
    np.testing.assert_allclose(grad, (f - y) / total, rtol=1e-13)  # d log L = grad L / L
    assert loss.margins is None and loss.reduction == "sum"


def test_square_loss_gradient_is_finite_at_a_zero_residual():
    f, y = jnp.asarray([1.0, 2.0, -0.5]), jnp.asarray([1.0, 0.0, 0.5])  # residual 0 first
    loss = get_loss("square")
    assert float(loss.log_per_example(f, y)[0]) == -np.inf
    grad = jax.grad(lambda f: loss.log_total(f, y))(f)
    np.testing.assert_allclose(grad, np.array([0.0, 2.0, -1.0]) / 2.5, rtol=1e-15)
    # logsumexp of the log l_i would give NaN here: weight 0 times the infinite d log l_1.
    naive = jax.grad(lambda f: jax.scipy.special.logsumexp(loss.log_per_example(f, y)))(f)
    assert np.isnan(naive[0])
    # all residuals 0: log L = -inf, no NaN
    assert float(loss.log_total(y, y)) == -np.inf


def test_square_loss_resolves_tiny_residuals():
    # r^2 = 1e-400 underflows, log(r^2/2) does not: the residuals are scaled before squaring.
    f, y = jnp.asarray([1e-200, 0.0]), jnp.asarray([0.0, 0.0])
    np.testing.assert_allclose(get_loss("square").log_total(f, y),
                               -400 * np.log(10) - np.log(2), rtol=1e-14)


def test_square_mean_is_the_sum_over_n():
    f, y = (jnp.asarray(a) for a in _square_data())
    total, mean = get_loss("square"), get_loss("square_mean")
    assert mean.reduction == "mean" and mean.margins is None
    np.testing.assert_allclose(mean.log_total(f, y), total.log_total(f, y) - np.log(20),
                               rtol=1e-14)
    np.testing.assert_array_equal(mean.log_per_example(f, y), total.log_per_example(f, y))
    grads = [jax.grad(lambda f, loss=loss: jnp.exp(loss.log_total(f, y)))(f)
             for loss in (total, mean)]
    np.testing.assert_allclose(grads[1], grads[0] / 20, rtol=1e-14)


def test_square_loss_float32_and_multi_output():
    f32 = jnp.asarray([[1.0, 2.0], [0.0, 1.0]], jnp.float32)
    y32 = jnp.zeros((2, 2), jnp.float32)
    for name in ("square", "square_mean"):
        value, terms = get_loss(name).log_total_and_terms(f32, y32)
        assert value.dtype == terms.dtype == jnp.float32 and terms.shape == (2,)
    np.testing.assert_allclose(get_loss("square").log_per_example(f32, y32),
                               np.log([2.5, 0.5]), rtol=1e-6)


def test_bad_reduction():
    with pytest.raises(ValueError, match="unknown reduction 'max'; allowed: sum, mean"):
        Loss("bad", lambda f, y: f, reduction="max")


def test_square_loss_refuses_targets_that_would_broadcast():
    loss = get_loss("square")
    with pytest.raises(ValueError, match=r"shape \(3,\) against targets of shape \(3, 1\)"):
        loss.log_total(jnp.zeros(3), jnp.zeros((3, 1)))


def test_mse_is_the_mean_over_examples_of_the_summed_squared_error():
    """Cisneros-Velarde et al.'s L = (1/n) sum_i ||f_i - y_i||^2 (no 1/2, summed over outputs)."""
    rng = np.random.default_rng(0)
    f, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    loss = get_loss("mse")
    want = np.mean(np.sum((f - y) ** 2, axis=1))
    assert float(jnp.exp(loss.log_total(jnp.asarray(f), jnp.asarray(y)))) == pytest.approx(
        want, rel=1e-13)
