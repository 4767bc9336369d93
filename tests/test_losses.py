import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wnbias import get_loss, log_softplus


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
