"""Fit the asymptotic rate of a loss trajectory.

Model (fitted by ordinary least squares on a late window of the trajectory)::

    L(t) ~ C / (t^q (log t)^p),   i.e.   log L = log C - q log t - p log log t,

with features ``[1, -log t, -log log t]``. Losses are passed as log-losses, since they can
underflow double precision (``L ~ e^-300``).

Context: Morwani & Ramaswamy (ALT 2022) show that exponentially weight-normalized (EWN)
gradient flow on separable data has ``L(t) = Theta(1 / (t (log t)^2))`` independently of depth,
whereas unnormalized gradient flow on an L-layer homogeneous network has
``L(t) = Theta(1 / (t (log t)^(2 - 2/L)))`` (Lyu & Li). The exponent ``p`` of ``log t`` is what
separates the two, and because ``q`` and ``p`` are strongly correlated over any finite range of
``t``, the robust estimate of ``p`` fixes ``q = 1`` (``fixed_q=1.0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit  # Student's t quantile (what scipy.stats.t.ppf calls)

__all__ = ["RateFit", "fit_loss_rate", "log_exponent_product", "power_law", "spearman"]

_MIN_POINTS = 4


@dataclass(frozen=True)
class RateFit:
    """Result of :func:`fit_loss_rate` for ``L(t) ~ C / (t^q (log t)^p)``.

    Standard errors come from the OLS residual variance; intervals are 95% Student-t intervals
    with ``n_points - k`` degrees of freedom (``k = 3`` free parameters, or ``k = 2`` when ``q``
    is fixed, in which case ``q_stderr = 0`` and ``q_interval = (q, q)``).
    """

    q: float
    p: float
    log_c: float
    q_stderr: float
    p_stderr: float
    q_interval: tuple[float, float]
    p_interval: tuple[float, float]
    n_points: int
    window: tuple[float, float]
    residual_rms: float


def _as_checked_arrays(t: np.ndarray, log_loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t_arr = np.asarray(t, dtype=np.float64)
    y_arr = np.asarray(log_loss, dtype=np.float64)
    if t_arr.ndim != 1 or t_arr.shape != y_arr.shape:
        raise ValueError(
            f"t and log_loss must be 1-D arrays of the same shape, got {t_arr.shape} "
            f"and {y_arr.shape}"
        )
    if not (np.all(np.isfinite(t_arr)) and np.all(np.isfinite(y_arr))):
        raise ValueError("t and log_loss must contain only finite values (no nan/inf)")
    return t_arr, y_arr


def fit_loss_rate(
    t: np.ndarray,
    log_loss: np.ndarray,
    *,
    window: tuple[float, float] = (0.5, 1.0),
    fixed_q: float | None = None,
) -> RateFit:
    """Fit ``log L = log C - q log t - p log log t`` on a late window of the trajectory.

    Args:
        t: times, 1-D float array (must be > 1 inside the window, > 0 everywhere).
        log_loss: natural log of the losses at ``t``, same shape as ``t``.
        window: ``(lo, hi)`` fractions of the trajectory's log-time range to fit over;
            ``(0.5, 1.0)`` keeps the points with ``log t`` in the last half of
            ``[min log t, max log t]``.
        fixed_q: if given, ``q`` is held at this value and only ``p`` and ``log C`` are fitted
            (robust estimate of the exponent of ``log t``).

    Returns:
        A :class:`RateFit`.

    Raises:
        ValueError: mismatched shapes, non-finite values, a bad window, any ``t <= 1`` in the
            window, or fewer than 4 points in the window.
    """
    t_arr, y_arr = _as_checked_arrays(t, log_loss)
    lo_frac, hi_frac = (float(w) for w in window)
    if not 0.0 <= lo_frac < hi_frac <= 1.0:
        raise ValueError(f"window must satisfy 0 <= lo < hi <= 1, got {window!r}")
    if t_arr.size < _MIN_POINTS:
        raise ValueError(f"need at least {_MIN_POINTS} points, got {t_arr.size}")
    if np.any(t_arr <= 0.0):
        raise ValueError("t must be positive (the window is defined in log t)")

    log_t_all = np.log(t_arr)
    u_min, u_max = float(log_t_all.min()), float(log_t_all.max())
    span = u_max - u_min
    tol = 1e-12 * max(1.0, abs(u_min), abs(u_max))
    u_lo = u_min + lo_frac * span - tol
    u_hi = u_min + hi_frac * span + tol
    mask = (log_t_all >= u_lo) & (log_t_all <= u_hi)
    n = int(mask.sum())
    if n < _MIN_POINTS:
        raise ValueError(f"need at least {_MIN_POINTS} points in the window {window!r}, got {n}")
    t_w, y_w = t_arr[mask], y_arr[mask]
    if np.any(t_w <= 1.0):
        raise ValueError("all t in the fit window must be > 1 (log log t is undefined for t <= 1)")

    log_t = np.log(t_w)
    loglog_t = np.log(log_t)
    if fixed_q is None:
        design = np.column_stack([np.ones(n), -log_t, -loglog_t])
        target = y_w
    else:
        design = np.column_stack([np.ones(n), -loglog_t])
        target = y_w + float(fixed_q) * log_t
    beta, stderr, resid = _least_squares(design, target)
    t_crit = float(stdtrit(n - design.shape[1], 0.975))

    if fixed_q is None:
        log_c, q_hat, p_hat = (float(b) for b in beta)
        q_se, p_se = float(stderr[1]), float(stderr[2])
    else:
        log_c, p_hat = (float(b) for b in beta)
        q_hat, q_se = float(fixed_q), 0.0
        p_se = float(stderr[1])

    return RateFit(
        q=q_hat,
        p=p_hat,
        log_c=log_c,
        q_stderr=q_se,
        p_stderr=p_se,
        q_interval=(q_hat - t_crit * q_se, q_hat + t_crit * q_se),
        p_interval=(p_hat - t_crit * p_se, p_hat + t_crit * p_se),
        n_points=n,
        window=(float(t_w.min()), float(t_w.max())),
        residual_rms=float(np.sqrt(np.mean(resid**2))),
    )


def log_exponent_product(t: np.ndarray, log_loss: np.ndarray, p: float) -> np.ndarray:
    """Return ``log(L t (log t)^p) = log L + log t + p log log t``, computed in the log domain.

    This is constant in ``t`` exactly when ``L(t) = C / (t (log t)^p)``; requires ``t > 1``.
    """
    t_arr, y_arr = _as_checked_arrays(t, log_loss)
    if np.any(t_arr <= 1.0):
        raise ValueError("all t must be > 1 (log log t is undefined for t <= 1)")
    log_t = np.log(t_arr)
    return y_arr + log_t + float(p) * np.log(log_t)


def power_law(x, y, confidence: float = 0.95) -> dict:
    """The exponent p of y ~ C x^p by least squares on (log x, log y), with its two-sided
    ``confidence`` interval from the t distribution: {"p", "interval", "points"}."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.size < 3 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(f"power_law needs >= 3 positive (x, y) pairs of one shape, got "
                         f"{x.shape} and {y.shape}")
    (_, slope), (_, stderr), _ = _least_squares(
        np.column_stack([np.ones(x.size), np.log(x)]), np.log(y))
    half = float(stdtrit(x.size - 2, 0.5 + confidence / 2)) * stderr
    return {"p": float(slope), "interval": [float(slope - half), float(slope + half)],
            "points": int(x.size)}


def _least_squares(design: np.ndarray, target: np.ndarray):
    """(beta, its standard errors, the residuals) of ordinary least squares by QR:
    beta = R^-1 Q^T y, cov(beta) = s^2 R^-1 R^-T with s^2 = |y - X beta|^2 / (n - k)."""
    n, k = design.shape
    q_mat, r_mat = np.linalg.qr(design)
    beta = np.linalg.solve(r_mat, q_mat.T @ target)
    resid = target - design @ beta
    r_inv = np.linalg.solve(r_mat, np.eye(k))
    stderr = np.sqrt(float(resid @ resid) / (n - k) * np.sum(r_inv**2, axis=1))
    return beta, stderr, resid


def spearman(a, b) -> float:
    """Spearman's rank correlation: Pearson's correlation of the two samples' ranks, ties given
    their average rank (as ``scipy.stats.spearmanr``, without importing scipy.stats: 0.6 s).
    NaN when a sample holds a non-finite value or is constant."""
    a, b = np.ravel(np.asarray(a, dtype=float)), np.ravel(np.asarray(b, dtype=float))
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"spearman needs two samples of one size >= 2, got {a.shape}, {b.shape}")
    ra, rb = _average_ranks(a), _average_ranks(b)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or np.ptp(ra) == 0 \
            or np.ptp(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _average_ranks(a) -> np.ndarray:
    """Ranks 1..n of a's entries, each run of equal values given the mean of its ranks."""
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])  # each run's first
    ends = np.r_[starts[1:], a.size]  # one past its last
    ranks = np.empty(a.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks
