"""Sparse recovery with diagonal linear networks: references and measures (PAPERS.md §2).

Setting (Chou, Rauhut & Ward, "Robust Implicit Regularization via Weight Normalization", arXiv
2305.05448; Chou, Maly & Rauhut, arXiv 2112.11027): A (M x N), M < N, x* s-sparse, y = A x*,
f(x) = ||A x - y||^2 / 2, g = grad f = A^T r with r = A x - y, and the diagonal network
x = u^L - v^L (elementwise powers, depth L >= 2) with u(0) = v(0) = alpha 1.

Exact interpolants:

- basis pursuit argmin ||z||_1 s.t. A z = y, as the LP min 1^T (p + q) s.t. A (p - q) = y,
  p, q >= 0 (HiGHS), its vertex solution polished by an exact solve on its support;
- the least-norm interpolant A^+ y.

Plain gradient flow in (u, v) (derived). du_i/dt = -L u_i^{L-1} g_i, dv_i/dt = +L v_i^{L-1} g_i,
so with S(t) = int_0^t r (in R^M) every coordinate depends only on t_i = (A^T S)_i:

- L = 2: u_i = alpha exp(-2 t_i), v_i = alpha exp(2 t_i), x_i = -2 alpha^2 sinh(4 t_i);
- L >= 3: d(u^{2-L})/dt = L (L-2) g_i, so u_i = (alpha^{2-L} + L(L-2) t_i)^{-1/(L-2)} and
  v_i = (alpha^{2-L} - L(L-2) t_i)^{-1/(L-2)}, finite while |L(L-2) t_i| < alpha^{2-L};
- in both cases dx_i/dt_i = -L^2 (u_i^{2L-2} + v_i^{2L-2}) < 0;
- invariants: u_i v_i = alpha^2 (L = 2) and u_i^{2-L} + v_i^{2-L} = 2 alpha^{2-L} (L >= 3).

The limit (Woodworth, Gunasekar, Lee, Moroshko, Savarese, Golan, Soudry & Srebro, "Kernel and
Rich Regimes in Overparametrized Models", COLT 2020, for L = 2): if the flow interpolates,
x_inf = x(A^T S_inf) with A x(A^T S_inf) = y. S_inf is the minimizer of the strictly convex dual
Phi(S) = sum_i G((A^T S)_i) + y^T S, G(t) = (u(t)^2 + v(t)^2 - 2 alpha^2) / (2L) (G' = -x), whose
gradient is -(A x - y) and Hessian A diag(L^2 (u^{2L-2} + v^{2L-2})) A^T: it is solved by damped
Newton (M unknowns). For L = 2, with nu = -4 S, x = 2 alpha^2 sinh(A^T nu) is the KKT point of

    min Q_alpha(x) s.t. A x = y,   Q_alpha(x) = alpha^2 sum_i q(x_i / alpha^2),
    q(z) = 2 - sqrt(4 + z^2) + z arcsinh(z / 2),   dQ_alpha/dx_i = arcsinh(x_i / (2 alpha^2)),

Woodworth et al.'s hyperbolic entropy with their constants unchanged (their w = w+^2 - w-^2 from
w+ = w- = alpha is this parameterization). alpha -> 0: Q_alpha / log(1/alpha^2) -> ||x||_1, the
min-l1 interpolant (slowly: off-support entries decay like a power of alpha); alpha -> inf:
Q_alpha(x) = ||x||^2 / (4 alpha^2) + O(alpha^-6), the least-norm interpolant A^+ y (the tangent
kernel at u = v = alpha 1 is 4 alpha^2 A A^T: isotropic).

One measurement (M = 1) reduces everything to the scalar S: x(S) and the root S_inf of
<a, x(S)> = y (<a, x(S)> decreases from +inf to -inf over the domain), an exact path for the flow.

Weight normalization per coordinate pair (PAPERS.md §2.6 (b), L = 2, derived): with
(u_i, v_i) = r_i (cos phi_i, sin phi_i), x_i = r_i^2 cos 2 phi_i, df/dr_i = 2 r_i cos(2 phi_i) g_i
and df/dphi_i = -2 r_i^2 sin(2 phi_i) g_i. Under dr/dt = -eta_r df/dr, dphi/dt = -eta_theta
df/dphi, d(r_i^2)/dt = -4 eta_r r_i^2 cos(2 phi_i) g_i and d log|sin 2 phi_i|/dt =
4 eta_theta r_i^2 cos(2 phi_i) g_i, so r_i^2 + rho log|sin 2 phi_i| with rho = eta_r / eta_theta
is conserved (= 2 alpha^2 from r = alpha sqrt 2, phi = pi/4).

Instances (the library's choice, PAPERS.md §2.4): A_ij ~ N(0, 1/M), a uniformly random support of
size s, nonzeros N(0, 1) or +-1. A warning (still run) when M < 2 s ln(N/s), the leading term
of the Gaussian l1 phase transition for s << N (Donoho & Tanner 2009; Chandrasekaran, Recht,
Parrilo & Willsky 2012 prove M >= 2 s ln(N/s) + 5 s / 4 sufficient): below it even basis pursuit
is not expected to find x*. It is lenient when s/N is not small.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import brentq, linprog

from ..errors import UserError


def _check_system(a, y) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float)
    y = np.asarray(y, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"A must be a 2-d (M x N) array, got shape {a.shape}")
    if y.shape != (a.shape[0],):
        raise ValueError(f"y must have shape ({a.shape[0]},) to match A {a.shape}, "
                         f"got {y.shape}")
    return a, y


def _check_depth(alpha: float, depth: int) -> None:
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if int(depth) != depth or depth < 2:
        raise ValueError(f"depth must be an integer >= 2, got {depth}")


# --- exact interpolants ----------------------------------------------------------------------

def min_l1_interpolant(a: np.ndarray, y: np.ndarray, polish: bool = True) -> np.ndarray:
    """Basis pursuit argmin ||z||_1 s.t. A z = y, by the LP on z = p - q, p, q >= 0 (HiGHS).

    HiGHS returns a vertex (at most rank A nonzeros); with ``polish`` its support is re-solved
    exactly (least squares on the support columns), kept if it has the same signs and an l1
    norm no larger up to 1e-9. Raises UserError if the LP is infeasible or fails."""
    a, y = _check_system(a, y)
    n = a.shape[1]
    res = linprog(np.ones(2 * n), A_eq=np.hstack([a, -a]), b_eq=y, bounds=(0, None),
                  method="highs")
    if res.status != 0:
        raise UserError(f"basis pursuit LP failed: status {res.status} ({res.message}); "
                        f"A z = y may have no solution (A is {a.shape[0]} x {n})")
    z = res.x[:n] - res.x[n:]
    if not polish:
        return z
    scale = max(1.0, float(np.max(np.abs(z))))
    support = np.abs(z) > 1e-9 * scale
    if 0 < support.sum() <= a.shape[0]:
        sub = a[:, support]
        if np.linalg.matrix_rank(sub) == support.sum():
            zs = np.linalg.lstsq(sub, y, rcond=None)[0]
            polished = np.zeros(n)
            polished[support] = zs
            if (np.all(np.sign(zs) == np.sign(z[support]))
                    and np.linalg.norm(a @ polished - y) <= np.linalg.norm(a @ z - y) + 1e-12
                    and np.abs(polished).sum() <= np.abs(z).sum() + 1e-9 * scale):
                return polished
    return z


def min_l1_norm(a: np.ndarray, y: np.ndarray) -> float:
    """min ||z||_1 s.t. A z = y."""
    return float(np.abs(min_l1_interpolant(a, y)).sum())


def min_l2_interpolant(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x+ = A^+ y, the interpolant of least Euclidean norm (alpha -> inf limit)."""
    a, y = _check_system(a, y)
    return np.linalg.pinv(a) @ y


# --- plain gradient flow of x = u^L - v^L ----------------------------------------------------

def _factors(t: np.ndarray, alpha: float, depth: int):
    """(u, v) at t = A^T S, or None outside the domain (L >= 3)."""
    if depth == 2:
        with np.errstate(over="ignore"):
            u, v = alpha * np.exp(-2 * t), alpha * np.exp(2 * t)
        return (u, v) if np.all(np.isfinite(u)) and np.all(np.isfinite(v)) else None
    base = alpha ** (2.0 - depth)
    c = depth * (depth - 2.0)
    bu, bv = base + c * t, base - c * t
    if np.any(bu <= 0) or np.any(bv <= 0):
        return None
    with np.errstate(over="ignore"):
        u, v = bu ** (-1.0 / (depth - 2)), bv ** (-1.0 / (depth - 2))
    return (u, v) if np.all(np.isfinite(u ** depth)) and np.all(np.isfinite(v ** depth)) else None


def _difference(t: np.ndarray, u: np.ndarray, v: np.ndarray, alpha: float,
                depth: int) -> np.ndarray:
    """x = u^L - v^L at t without cancellation: -2 alpha^2 sinh(4t) for L = 2; for L >= 3,
    with p = L/(L-2), b_+- = alpha^{2-L} + L(L-2)|t| and -, x = -sign(t) b_-^{-p} (1 -
    (b_-/b_+)^p) = sign(t) b_-^{-p} expm1(p log1p(-2 L(L-2)|t| / b_+))."""
    if depth == 2:
        return -2 * alpha**2 * np.sinh(4 * t)
    p, c, base = depth / (depth - 2.0), depth * (depth - 2.0), alpha ** (2.0 - depth)
    at = np.abs(t)
    big = np.maximum(u, v) ** depth  # b_-^{-p}
    return np.sign(t) * big * np.expm1(p * np.log1p(-2 * c * at / (base + c * at)))


def plain_flow_factors(t, alpha: float, depth: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of plain gradient flow from u = v = alpha 1 as functions of t = A^T S(t),
    S(t) = int_0^t (A x - y): alpha exp(-+2 t) for L = 2, (alpha^{2-L} +- L(L-2) t)^{-1/(L-2)}
    for L >= 3. ValueError outside the domain |L(L-2) t| < alpha^{2-L} (L >= 3)."""
    _check_depth(alpha, depth)
    t = np.asarray(t, dtype=float)
    uv = _factors(t, alpha, depth)
    if uv is None:
        bound = alpha ** (2.0 - depth) / (depth * (depth - 2.0)) if depth > 2 else math.inf
        raise ValueError(f"t outside the flow's domain |t| < {bound:.6g} (alpha={alpha}, "
                         f"L={depth}), or u, v overflow")
    return uv


def depth_l_limit(a: np.ndarray, y: np.ndarray, alpha: float, depth: int = 2, *,
                  rtol: float = 1e-11, max_iter: int = 500) -> np.ndarray:
    """The limit of plain gradient flow on x = u^L - v^L from u = v = alpha 1 (if it
    interpolates): x(A^T S) with A x(A^T S) = y, S the minimizer of the convex dual Phi (module
    docstring). Damped Newton on grad Phi = y - A x from S = 0: steps capped at |4 dt| <= 2
    (L = 2) or at 90% of the way to the domain's edge (L >= 3), then Armijo backtracking on
    ||A x - y||^2 (the Newton step is a descent direction for it).

    Stops when ||A x - y|| <= rtol max(1, ||y||) or below the rounding floor
    2 eps ||A||_2 || w |A|^T |S| + k |x| || (w = -dx/dt; k = 1 for L = 2, else 1 + p b_+ / b_- with
    p = L/(L-2), b_+- = alpha^{2-L} +- L(L-2)|t|: the rounding of the small base); UserError if
    that takes over ``max_iter`` steps. For L >= 3 and small alpha, b_- cancels on the support:
    expect about alpha^{2-L} eps relative error there (1e-9 at L = 4, alpha = 1e-3)."""
    a, y = _check_system(a, y)
    _check_depth(alpha, depth)
    m = a.shape[0]
    tol = rtol * max(1.0, float(np.linalg.norm(y)))

    a_norm, abs_a = float(np.linalg.norm(a, 2)), np.abs(a)
    base, c = alpha ** (2.0 - depth), depth * (depth - 2.0)

    def state(s):
        """grad Phi(S) = y - A x and what Newton needs; None outside the domain."""
        t = a.T @ s
        uv = _factors(t, alpha, depth)
        if uv is None:
            return None
        u, v = uv
        x = _difference(t, u, v, alpha, depth)
        grad = y - a @ x
        if not np.all(np.isfinite(grad)):
            return None
        return {"s": s, "t": t, "u": u, "v": v, "x": x, "grad": grad,
                "gnorm": float(np.linalg.norm(grad))}

    cur = state(np.zeros(m))
    for _ in range(max_iter):
        t, u, v, x, grad = cur["t"], cur["u"], cur["v"], cur["x"], cur["grad"]
        weights = depth**2 * (u ** (2 * depth - 2) + v ** (2 * depth - 2))
        # rounding floor of ||A x - y||: t = A^T S is known to eps |A|^T |S|, and for L >= 3
        # the small base b_- = b - c|t| to eps b_+
        amplify = 1.0 if depth == 2 else 1 + depth / (depth - 2) * (
            (base + c * np.abs(t)) / (base - c * np.abs(t)))
        floor = 2 * np.finfo(float).eps * a_norm * float(
            np.linalg.norm(weights * (abs_a.T @ np.abs(cur["s"])) + amplify * np.abs(x)))
        if cur["gnorm"] <= max(tol, floor):
            return x
        hess = (a * weights) @ a.T
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
        dt = a.T @ step
        if depth == 2:  # factors change by at most e^{+-1}
            lam = min(1.0, 0.5 / max(float(np.max(np.abs(dt))), 1e-300))
        else:  # at most 90% of the way to the domain's edge
            room = np.concatenate([(base + c * t) / np.maximum(-c * dt, 1e-300),
                                   (base - c * t) / np.maximum(c * dt, 1e-300)])
            lam = min(1.0, 0.9 * float(np.min(room)))
        while True:  # Armijo on ||A x - y||^2, for which the Newton step is a descent direction
            new = state(cur["s"] + lam * step)
            if new is not None and new["gnorm"] ** 2 <= (1 - 1e-4 * lam) * cur["gnorm"] ** 2:
                break
            lam /= 2
            if lam < 1e-20:
                if cur["gnorm"] <= 100 * max(tol, floor):  # stuck at rounding level
                    return x
                raise UserError(f"depth-{depth} limit: line search failed at alpha={alpha} "
                                f"(residual {cur['gnorm']:.3g}, tolerance {max(tol, floor):.3g})")
        cur = new
    raise UserError(f"depth-{depth} limit: no convergence in {max_iter} Newton steps at "
                    f"alpha={alpha} (residual {cur['gnorm']:.3g}, tolerance {tol:.3g})")


def woodworth_limit(a: np.ndarray, y: np.ndarray, alpha: float, **kwargs) -> np.ndarray:
    """The limit of plain depth-2 gradient flow on x = u^2 - v^2 from u = v = alpha 1:
    argmin Q_alpha(x) s.t. A x = y (Woodworth et al. 2020), x = 2 alpha^2 sinh(A^T nu); computed
    by :func:`depth_l_limit` (``rtol``, ``max_iter`` pass through)."""
    return depth_l_limit(a, y, alpha, 2, **kwargs)


def hyperbolic_entropy(x, alpha: float) -> float:
    """Q_alpha(x) = alpha^2 sum_i q(x_i / alpha^2), q(z) = 2 - sqrt(4 + z^2) + z arcsinh(z/2)."""
    z = np.asarray(x, dtype=float) / alpha**2
    return float(alpha**2 * np.sum(2 - np.sqrt(4 + z**2) + z * np.arcsinh(z / 2)))


def hyperbolic_entropy_grad(x, alpha: float) -> np.ndarray:
    """grad Q_alpha(x) = arcsinh(x / (2 alpha^2)); in range(A^T) at the Woodworth limit."""
    return np.arcsinh(np.asarray(x, dtype=float) / (2 * alpha**2))


def depth_l_single_measurement_path(a_row, y_scalar: float, alpha: float, depth: int,
                                    s_grid=None) -> dict:
    """The exact path of plain gradient flow on x = u^L - v^L for ONE measurement y = <a, x>.

    Here g = r a with the scalar residual r = <a, x> - y, so (u, v) = plain_flow_factors(a S)
    with S(t) = int_0^t r. Returns ``s_inf`` (the root of <a, x(S)> = y by brentq, bracketed
    inside the domain |S| < alpha^{2-L} / (L(L-2) max|a_i|) for L >= 3), ``x_inf`` and, for
    the S values in ``s_grid`` (the flow passes S from 0 to s_inf monotonically), ``u``, ``v``
    and ``x`` of shape (len(s_grid), N)."""
    a_row = np.asarray(a_row, dtype=float)
    if a_row.ndim != 1 or not np.any(a_row):
        raise ValueError(f"a_row must be a nonzero 1-d array, got shape {a_row.shape}")
    _check_depth(alpha, depth)
    y_scalar = float(y_scalar)

    def x_of(s):
        t = np.multiply.outer(s, a_row)
        u, v = plain_flow_factors(t, alpha, depth)
        return u, v, _difference(t, u, v, alpha, depth)

    def residual(s):
        return float(a_row @ x_of(s)[2]) - y_scalar

    if y_scalar == 0:
        s_inf = 0.0
    else:
        direction = -math.copysign(1.0, y_scalar)  # <a, x(S)> decreases in S
        if depth == 2:
            edge = 150.0 / np.max(np.abs(a_row))  # exp(4 |a_i S|) stays finite
        else:
            edge = alpha ** (2.0 - depth) / (depth * (depth - 2.0) * np.max(np.abs(a_row)))
        for k in range(1, 60):
            far = direction * edge * (1 - 2.0**-k)
            if residual(far) * direction < 0:
                break
        else:
            raise UserError(f"single-measurement limit: no bracket for y={y_scalar} "
                            f"(alpha={alpha}, L={depth})")
        s_inf = brentq(residual, min(0.0, far), max(0.0, far), xtol=1e-300, rtol=1e-15,
                       maxiter=500)
    out = {"s_inf": s_inf, "x_inf": x_of(s_inf)[2]}
    if s_grid is not None:
        u, v, x = x_of(np.asarray(s_grid, dtype=float))
        out.update(u=u, v=v, x=x)
    return out


# --- invariants ------------------------------------------------------------------------------

def plain_depth2_invariant(u, v):
    """u * v, conserved coordinatewise by plain gradient flow on x = u^2 - v^2."""
    return np.asarray(u) * np.asarray(v)


def plain_depth_l_invariant(u, v, depth: int):
    """u v (L = 2) or u^{2-L} + v^{2-L} (L >= 3), conserved coordinatewise by plain gradient
    flow on x = u^L - v^L (= alpha^2, resp. 2 alpha^{2-L}, from u = v = alpha)."""
    u, v = np.asarray(u), np.asarray(v)
    return u * v if depth == 2 else u ** (2.0 - depth) + v ** (2.0 - depth)


def polar_pair_invariant(r, phi, rho: float):
    """r^2 + rho log|sin 2 phi|, conserved coordinatewise by the per-pair polar WN flow at
    L = 2 with rho = eta_r / eta_theta (module docstring)."""
    r, phi = np.asarray(r), np.asarray(phi)
    return r**2 + rho * np.log(np.abs(np.sin(2 * phi)))


# --- measures --------------------------------------------------------------------------------

def l1_gap(x, a: np.ndarray, y: np.ndarray, l1_min: float | None = None) -> float:
    """||x||_1 - min{||z||_1 : A z = y} (the LP unless ``l1_min`` is given). Not a distance: an
    x that does not interpolate can have a negative gap."""
    if l1_min is None:
        l1_min = min_l1_norm(a, y)
    return float(np.abs(np.asarray(x)).sum() - l1_min)


def recovery_error(x, x_star) -> float:
    """||x - x*||_2."""
    return float(np.linalg.norm(np.asarray(x) - np.asarray(x_star)))


def support_recovery(x, x_star) -> float:
    """The fraction of supp(x*) = {i : x*_i != 0} found among the s = |supp x*| largest |x_i|
    (1.0 for x* = 0)."""
    x, x_star = np.asarray(x), np.asarray(x_star)
    true = np.flatnonzero(x_star)
    if true.size == 0:
        return 1.0
    top = np.argsort(-np.abs(x), kind="stable")[:true.size]
    return float(np.isin(true, top).mean())


def exact_support(x, x_star, threshold: float) -> bool:
    """Exact support recovery: {i : |x_i| > threshold} == supp(x*)."""
    x, x_star = np.asarray(x), np.asarray(x_star)
    return bool(np.array_equal(np.abs(x) > threshold, x_star != 0))


# --- instances -------------------------------------------------------------------------------

def recovery_threshold(n: int, s: int) -> float:
    """2 s ln(N/s) (0 for s = 0): below it, M Gaussian measurements are not expected to
    recover an s-sparse vector by basis pursuit (module docstring)."""
    return 0.0 if s == 0 else 2 * s * math.log(n / s)


def make_instance(m: int, n: int, s: int, seed: int, noise: float = 0.0,
                  values: str = "gaussian") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, y, x*): A_ij ~ N(0, 1/M), x* with a uniformly random support of size s and
    N(0, 1) (``values="gaussian"``) or +-1 (``"sign"``) nonzeros, y = A x* + noise e with
    e ~ N(0, I_M). ValueError if s > n; a UserWarning (the instance is still returned) when
    M < 2 s ln(N/s)."""
    if m < 1 or n < 1 or s < 0:
        raise ValueError(f"need m >= 1, n >= 1 and s >= 0, got m={m}, n={n}, s={s}")
    if s > n:
        raise ValueError(f"sparsity s={s} exceeds the dimension n={n}")
    if values not in ("gaussian", "sign"):
        raise ValueError(f"unknown values {values!r}; allowed: gaussian, sign")
    if m < recovery_threshold(n, s):
        warnings.warn(f"M={m} < 2 s ln(N/s) = {recovery_threshold(n, s):.1f} (N={n}, s={s}): "
                      "below the l1 recovery threshold, x* is likely not the min-l1 "
                      "interpolant", UserWarning, stacklevel=2)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, n)) / np.sqrt(m)
    x_star = np.zeros(n)
    support = rng.choice(n, size=s, replace=False)
    x_star[support] = (rng.standard_normal(s) if values == "gaussian"
                       else rng.choice([-1.0, 1.0], size=s))
    y = a @ x_star + noise * rng.standard_normal(m)
    return a, y, x_star
