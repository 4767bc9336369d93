"""Weight normalization on under-determined least squares (Wu et al., NeurIPS 2020; PAPERS.md §5).

f(x) = ||A x - y||^2 / 2 with A (n x d), n < d, and x = g w/||w||. WN-GD steps g with rate gamma
and w with rate eta; rPGD renormalizes w after each step; both follow the same flow in the limit
of small steps, dg/dt = -c <w, grad f(g w)>, dw/dt = -g (I - w w^T) grad f(g w) with c =
gamma/eta and ||w|| = 1 (time in units of eta). Since grad f lies in range(A^T), the part of w
in ker A only shrinks:

- invariant: ||P w|| exp(g^2 / (2c)) is constant, P the projector onto ker A;
- limit (derived, PAPERS.md §5.2b [M]): with p0 = ||P w0||, D = ||x+|| (x+ = A^+ y the min-norm
  solution) and S = g_inf^2, S (1 - p0^2 exp(-(S - g0^2)/c)) = D^2 and
  ||x_inf - x+|| = sqrt(S) p0 exp(-(S - g0^2)/(2c)): exponentially small in (D^2 - g0^2)/c when
  |g0| < D, about sqrt(g0^2 - D^2) when |g0| > D;
- plain GD on x from x0 ends at x+ + P x0;
- rate (derived): df/dt = -c <w, grad f>^2 - g^2 ||(I - w w^T) grad f||^2
  <= -min(c, g^2) ||A^T r||^2 <= -2 sigma_min(A)^2 min(c, g^2) f, so
  log f(t) - log f(0) <= -2 sigma_min(A)^2 int_0^t min(c, g(s)^2) ds: linear convergence while g
  stays away from 0;
- g = 0 with w orthogonal to A^T y is a stationary point that is not a minimum (f = ||y||^2/2);
- rPGD is stable for roughly eta g^2 ||A||_2^2 < 2.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq


def min_norm_solution(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x+ = A^+ y, the interpolating solution of least norm."""
    return np.linalg.pinv(a) @ y


def null_space_projector(a: np.ndarray) -> np.ndarray:
    """P = I - A^+ A, the orthogonal projector onto ker A."""
    return np.eye(a.shape[1]) - np.linalg.pinv(a) @ a


def wn_invariant(g, w, projector: np.ndarray, c: float):
    """||P w^|| exp(g^2 / (2c)) with w^ = w/||w|| (last axis), conserved by the WN flow."""
    w = np.asarray(w)
    unit = w / np.linalg.norm(w, axis=-1, keepdims=True)
    return np.linalg.norm(unit @ projector.T, axis=-1) * np.exp(np.asarray(g) ** 2 / (2 * c))


def plain_gd_limit(a: np.ndarray, y: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Where GD (and gradient flow) on x from x0 ends: x+ + P x0."""
    return min_norm_solution(a, y) + null_space_projector(a) @ x0


def wn_limit(a: np.ndarray, y: np.ndarray, g0: float, w0: np.ndarray, c: float) -> dict:
    """The WN flow's limit in closed form: ``S`` = g_inf^2, ``abs_g`` = |g_inf| (g may cross 0
    on the way: its sign is not determined here) and ``distance`` = ||x_inf - x+||.

    S solves h(S) = S (1 - p0^2 exp(-(S - g0^2)/c)) - D^2 = 0 with S >= D^2. The limit is taken
    as the first root met from g0^2: the largest root in [D^2, g0^2] when g0^2 > D^2 (g^2 comes
    down), else the smallest root >= D^2 (g^2 goes up); the tests check it against the flow.
    """
    w0 = np.asarray(w0) / np.linalg.norm(w0)
    p0 = float(np.linalg.norm(null_space_projector(a) @ w0))
    d2 = float(np.sum(min_norm_solution(a, y) ** 2))

    def h(s):  # the exponent is clipped: far below g0^2 only the sign matters
        return s * (1 - p0**2 * np.exp(np.minimum(-(s - g0**2) / c, 700.0))) - d2

    upper = max(g0**2, d2) * 4 + 10 * c + 1.0  # h > 0 beyond: the exponential has died out
    grid = np.unique(np.concatenate([np.linspace(d2, upper, 4001), [g0**2]]))
    grid = grid[grid >= d2]
    with np.errstate(over="ignore"):
        values = h(grid)
    signs = np.sign(values)
    roots = [brentq(h, lo, hi) if sl != sh else lo
             for lo, hi, sl, sh in zip(grid[:-1], grid[1:], signs[:-1], signs[1:], strict=True)
             if sl != sh or sl == 0]
    if not roots:
        raise ValueError(f"no limit found for g0={g0}, c={c} (p0={p0:.3g}, ||x+||^2={d2:.3g})")
    below = [r for r in roots if r <= g0**2]
    s = max(below) if g0**2 > d2 and below else min(roots)
    distance = np.sqrt(s) * p0 * np.exp(-(s - g0**2) / (2 * c))
    return {"S": s, "abs_g": float(np.sqrt(s)), "distance": float(distance),
            "p0": p0, "min_norm": float(np.sqrt(d2))}


def wn_rate_exponent(a: np.ndarray, t: np.ndarray, g: np.ndarray, c: float) -> np.ndarray:
    """2 sigma_min(A)^2 int_0^t min(c, g(s)^2) ds at each recorded time (trapezoid on the
    record): the WN flow's guaranteed decrease of log f by time t."""
    sigma = np.linalg.svd(a, compute_uv=False)[-1]
    rate = np.minimum(c, np.asarray(g) ** 2)
    steps = np.diff(np.asarray(t)) * (rate[1:] + rate[:-1]) / 2
    return 2 * sigma**2 * np.concatenate([[0.0], np.cumsum(steps)])


def wn_stationary_direction(a: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The unit part of ``w`` orthogonal to A^T y: with g = 0 it is a stationary point of
    x = g w that is not a minimum (grad_g = -<w, A^T y> = 0 and grad_w = 0, f = ||y||^2/2)."""
    b = a.T @ y
    w = np.asarray(w) - (np.asarray(w) @ b) / (b @ b) * b
    return w / np.linalg.norm(w)


def rpgd_stable(eta: float, g: float, a: np.ndarray) -> bool:
    """The rPGD step guard eta g^2 ||A||_2^2 < 2 (past it the iteration stalls)."""
    return bool(eta * g**2 * np.linalg.norm(a, 2) ** 2 < 2)
