"""Tests for wnbias.measure.rates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wnbias.measure.rates import RateFit, fit_loss_rate, log_exponent_product, power_law, spearman

T = np.geomspace(1e2, 1e12, 400)


def _log_curve(t: np.ndarray, q: float, p: float, log_c: float = 0.7) -> np.ndarray:
    return log_c - q * np.log(t) - p * np.log(np.log(t))


@pytest.mark.parametrize("p", [2.0, 1.0, 0.5])
def test_exact_recovery(p: float) -> None:
    fit = fit_loss_rate(T, _log_curve(T, 1.0, p))
    assert isinstance(fit, RateFit)
    assert fit.q == pytest.approx(1.0, abs=1e-6)
    assert fit.p == pytest.approx(p, abs=1e-6)
    assert fit.log_c == pytest.approx(0.7, abs=1e-5)
    assert fit.residual_rms < 1e-9
    assert fit.q_stderr < 1e-6 and fit.p_stderr < 1e-6
    # window (0.5, 1.0) = last half of log t range: t from 1e7 to 1e12
    assert fit.window[0] == pytest.approx(1e7, rel=0.1)
    assert fit.window[1] == pytest.approx(1e12)
    assert fit.n_points == int(np.sum(np.log(T) >= 0.5 * (np.log(1e2) + np.log(1e12)) - 1e-9))


def test_tiny_losses_in_log_domain() -> None:
    # losses ~ e^-300 and below would underflow if exponentiated
    log_loss = _log_curve(T, 1.0, 2.0, log_c=-280.0)
    fit = fit_loss_rate(T, log_loss, window=(0.0, 1.0))
    assert fit.p == pytest.approx(2.0, abs=1e-6)
    assert fit.n_points == T.size


def test_frozen() -> None:
    fit = fit_loss_rate(T, _log_curve(T, 1.0, 2.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.p = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("p", [2.0, 1.0, 0.5])
def test_noisy_interval_covers_truth(p: float) -> None:
    rng = np.random.default_rng(12345)
    log_loss = _log_curve(T, 1.0, p) + 0.02 * rng.standard_normal(T.size)
    fit = fit_loss_rate(T, log_loss, window=(0.0, 1.0))
    assert fit.q_interval[0] < 1.0 < fit.q_interval[1]
    assert fit.p_interval[0] < p < fit.p_interval[1]
    assert fit.q_stderr > 0 and fit.p_stderr > 0
    assert 0.01 < fit.residual_rms < 0.03

    fixed = fit_loss_rate(T, log_loss, window=(0.0, 1.0), fixed_q=1.0)
    assert fixed.p_interval[0] < p < fixed.p_interval[1]
    # fixing q removes the q-p correlation: much tighter p
    assert fixed.p_stderr < fit.p_stderr


@pytest.mark.parametrize("p", [2.0, 1.0, 0.5])
def test_fixed_q_recovers_p(p: float) -> None:
    fit = fit_loss_rate(T, _log_curve(T, 1.0, p), fixed_q=1.0)
    assert fit.q == 1.0
    assert fit.q_stderr == 0.0
    assert fit.q_interval == (1.0, 1.0)
    assert fit.p == pytest.approx(p, abs=1e-8)
    assert fit.log_c == pytest.approx(0.7, abs=1e-7)


def test_log_exponent_product_flat_for_right_p() -> None:
    log_loss = _log_curve(T, 1.0, 2.0, log_c=-300.0)
    right = log_exponent_product(T, log_loss, 2.0)
    wrong = log_exponent_product(T, log_loss, 1.0)
    assert right.shape == T.shape
    assert np.ptp(right) < 1e-9
    assert right[0] == pytest.approx(-300.0)
    assert np.ptp(wrong) > 0.1


def test_error_too_few_points_in_window() -> None:
    with pytest.raises(ValueError, match="at least 4 points"):
        fit_loss_rate(T[:10], _log_curve(T[:10], 1.0, 2.0), window=(0.9, 1.0))
    with pytest.raises(ValueError, match="at least 4 points"):
        fit_loss_rate(T[:3], _log_curve(T[:3], 1.0, 2.0))


def test_error_t_not_above_one() -> None:
    t = np.linspace(0.5, 10.0, 20)
    with pytest.raises(ValueError, match="log log t"):
        fit_loss_rate(t, -np.log(t + 1.0), window=(0.0, 1.0))
    with pytest.raises(ValueError, match="log log t"):
        log_exponent_product(t, -np.log(t + 1.0), 2.0)
    with pytest.raises(ValueError, match="positive"):
        fit_loss_rate(np.linspace(-1.0, 10.0, 20), np.zeros(20))


def test_t_below_one_outside_window_is_fine() -> None:
    t = np.geomspace(0.5, 1e12, 400)
    fit = fit_loss_rate(t, _log_curve(np.maximum(t, 2.0), 1.0, 2.0), window=(0.5, 1.0))
    assert fit.window[0] > 1.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_error_non_finite(bad: float) -> None:
    log_loss = _log_curve(T, 1.0, 2.0)
    log_loss[-1] = bad
    with pytest.raises(ValueError, match="finite"):
        fit_loss_rate(T, log_loss)
    t = T.copy()
    t[0] = bad
    with pytest.raises(ValueError, match="finite"):
        fit_loss_rate(t, _log_curve(T, 1.0, 2.0))
    with pytest.raises(ValueError, match="finite"):
        log_exponent_product(T, log_loss, 2.0)


def test_error_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        fit_loss_rate(T, _log_curve(T, 1.0, 2.0)[:-1])
    with pytest.raises(ValueError, match="same shape"):
        log_exponent_product(T, _log_curve(T, 1.0, 2.0)[:-1], 2.0)
    with pytest.raises(ValueError, match="1-D"):
        fit_loss_rate(T.reshape(20, 20), _log_curve(T, 1.0, 2.0).reshape(20, 20))


@pytest.mark.parametrize("window", [(0.5, 0.5), (-0.1, 1.0), (0.2, 1.1), (0.8, 0.3)])
def test_error_bad_window(window: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="window"):
        fit_loss_rate(T, _log_curve(T, 1.0, 2.0), window=window)


def test_power_law_matches_scipy_linregress() -> None:
    """The slope and its t interval against scipy.stats (a second implementation)."""
    from scipy import stats

    rng = np.random.default_rng(3)
    x = np.geomspace(1.0, 100.0, 9)
    y = 2.0 * x**-0.7 * np.exp(0.05 * rng.standard_normal(x.size))
    fit = stats.linregress(np.log(x), np.log(y))
    half = stats.t.ppf(0.95, x.size - 2) * fit.stderr
    got = power_law(x, y, confidence=0.9)
    np.testing.assert_allclose(got["p"], fit.slope, rtol=1e-12)
    np.testing.assert_allclose(got["interval"], [fit.slope - half, fit.slope + half], rtol=1e-12)
    assert got["points"] == 9


@pytest.mark.parametrize("ties", [False, True])
def test_spearman_matches_scipy(ties: bool) -> None:
    from scipy import stats

    rng = np.random.default_rng(4)
    a = rng.standard_normal(40)
    b = -a + 0.8 * rng.standard_normal(40)
    if ties:
        a, b = np.round(a, 1), np.round(b, 0)
    np.testing.assert_allclose(spearman(a, b), stats.spearmanr(a, b).statistic, rtol=1e-12)


def test_spearman_of_non_finite_or_constant_is_nan() -> None:
    assert np.isnan(spearman([1.0, np.nan, 2.0], [1.0, 2.0, 3.0]))
    assert np.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert spearman([1.0, 2.0, 3.0], [30.0, 20.0, 10.0]) == pytest.approx(-1.0)
