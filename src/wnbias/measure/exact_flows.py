"""The exact gradient flow of a two-layer linear network from a lambda-balanced start with
whitened inputs (Saxe, McClelland & Ganguli, ICLR 2014, lambda = 0; Braun, Dominé, Fitzgerald &
Saxe, NeurIPS 2022, "Exact learning dynamics of deep linear networks with prior knowledge";
Dominé, Anguita, Proca, Braun, Kunin, Mediano & Saxe, ICLR 2025, "From lazy to rich: exact
learning dynamics in deep linear networks").

Setting and conventions. f(x) = W2 W1 x with W1 (h x d_in) = ``layer1`` and W2 (d_out x h) =
``layer2`` of ``deep_linear((d_in, h, d_out))``; rows of X (n x d_in) and Y (n x d_out) are the
examples and the loss is the library's square loss L = (1/2) sum_i ||y_i - W2 W1 x_i||^2 (the
"sum" reduction; for "square_mean" divide both moments by n). With the moments
Sigma_xx = sum_i x_i x_i^T = X^T X and S = Sigma_yx = sum_i y_i x_i^T = Y^T X (d_out x d_in),
L = const + (1/2) tr(W2 W1 Sigma_xx W1^T W2^T) - tr(S^T W2 W1), and gradient flow is

    dW1/dt = W2^T (S - W2 W1 Sigma_xx),    dW2/dt = (S - W2 W1 Sigma_xx) W1^T.

Conservation (any Sigma_xx). d(W2^T W2)/dt and d(W1 W1^T)/dt both equal
W2^T (S - W2 W1 Sigma_xx) W1^T + its transpose, so D = W2^T W2 - W1 W1^T (h x h) is constant.
A start is lambda-balanced if D = lambda I_h. This constrains the shapes: lambda > 0 needs
W2^T W2 > 0, so d_out >= h; lambda < 0 needs d_in >= h; lambda = 0 allows every shape (then
rank W1 = rank W2 <= min(d_in, d_out)). Nothing else is assumed: the derivation below holds for
every shape that admits the start (Braun et al. take d_in = d_out = h; it is not needed here).

The Riccati equation (Sigma_xx = I). Stack Q = [W1^T; W2] ((d_in + d_out) x h), so that

    QQ^T = [[W1^T W1, W1^T W2^T], [W2 W1, W2 W2^T]]   (the end-to-end map is the lower-left block)

and write M = Q^T Q = W1 W1^T + W2^T W2. Balancedness gives W2^T W2 = (M + lambda I)/2 and
W1 W1^T = (M - lambda I)/2, so dW1^T/dt = S^T W2 - W1^T W2^T W2 = S^T W2 - lambda/2 W1^T -
(1/2) W1^T M and dW2/dt = S W1^T - W2 W1 W1^T = S W1^T + lambda/2 W2 - (1/2) W2 M, i.e.

    dQ/dt = F Q - (1/2) Q Q^T Q,    F = [[-lambda/2 I_{d_in}, S^T], [S, lambda/2 I_{d_out}]],

and P = QQ^T solves the matrix Riccati equation dP/dt = F P + P F - P^2 (F symmetric).

The solution. Try P(t) = e^{Ft} Q0 K(t)^{-1} Q0^T e^{Ft} with K(0) = I_h (so P(0) = Q0 Q0^T).
Then dP/dt = F P + P F - e^{Ft} Q0 K^{-1} K' K^{-1} Q0^T e^{Ft}, and P^2 is the same sandwich
with K' replaced by Q0^T e^{2Ft} Q0, so P solves the Riccati equation when K' = Q0^T e^{2Ft} Q0:

    K(t) = I_h + Q0^T G(t) Q0,   G(t) = int_0^t e^{2Fs} ds = O diag(phi(f_k, t)) O^T,
    phi(f, t) = (e^{2ft} - 1)/(2f)   (phi(0, t) = t),

with F = O diag(f) O^T. For invertible F, G(t) = (1/2) F^{-1} (e^{2Ft} - I), which is the form
e^{Ft} Q0 [I + (1/2) Q0^T F^{-1} (e^{2Ft} - I) Q0]^{-1} Q0^T e^{Ft} of Braun et al.; the
eigenvalue form also covers singular F (lambda = 0 with rank-deficient S, or d_in != d_out).
phi > 0 for t > 0 and every f, so K >= I is always invertible: the solution exists for all t.
The spectrum of F is +-sqrt(s_k^2 + lambda^2/4) over the singular values s_k of S, and
lambda/2 (resp. -lambda/2) on the extra d_out - d_in (resp. d_in - d_out) dimensions.

P(t) depends on Q0 only through Q0 Q0^T, so the map P(0) -> P(t) is a semigroup and
Q(t) = e^{Ft} Q0 K(t)^{-1/2} is one factor of P(t). The network's own factor is e^{Ft} Q0 A(t)
with A' = -(1/2) K^{-1} K' A, A(0) = I (so A A^T = K^{-1}): the same up to an h x h orthogonal
matrix, which has no closed form in general; the blocks of QQ^T above do not see it and are
exact. Since Q^T J Q = lambda I with J = diag(-I_{d_in}, I_{d_out}), every factor of full
column rank satisfies it too, and P J P = lambda P.

Numerics. e^{Ft} Q0 becomes numerically rank-deficient for large t (its columns all turn
towards the leading eigenvector of F) although P(t) stays bounded, so the one-shot formula loses
accuracy once e^{2 max|f| t} approaches 1/eps. :func:`lambda_balanced_flow` therefore composes
the closed form over steps of at most ``step_exponent / (2 max|f_k|)`` in t (each step applies
the formula from the previous factor Q, well-conditioned). Against a DOP853 solve of the weight
ODE at rtol 1e-13 the composed form agrees to ~1e-12 for step_exponent <= 8 (default 4), and
degrades to ~1e-7 at 32 over t = 5; ``step_exponent=np.inf`` evaluates the one-shot formula at
every t.

Limit. With h >= rank S and a generic start, W2 W1 -> S = Sigma_yx Sigma_xx^{-1}, the
least-squares map (a fixed point: W2 W1 = S makes both derivatives vanish); with h < rank S,
generically the best rank-h approximation of S (its top h singular triplets).
"""

from __future__ import annotations

import numpy as np

BALANCE_TOL = 1e-8


def regression_moments(x, y, reduction: str = "sum") -> tuple[np.ndarray, np.ndarray]:
    """(Sigma_xx, Sigma_yx) = (X^T X, Y^T X) of examples in rows, divided by n for "mean"
    (the library's ``square_mean`` loss): the moments whose gradient flow is described above."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"x must be (n, d_in) and y (n, d_out), got {x.shape} and {y.shape}")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"unknown reduction {reduction!r}; allowed: sum, mean")
    scale = 1.0 if reduction == "sum" else 1.0 / x.shape[0]
    return scale * (x.T @ x), scale * (y.T @ x)


def balance_level(w1, w2, tol: float = BALANCE_TOL) -> float:
    """lambda with W2^T W2 - W1 W1^T = lambda I_h; ValueError if the start is not
    lambda-balanced (Frobenius deviation above ``tol`` times max(||W1 W1^T||, ||W2^T W2||))."""
    w1, w2 = np.asarray(w1, dtype=float), np.asarray(w2, dtype=float)
    if w1.ndim != 2 or w2.ndim != 2 or w2.shape[1] != w1.shape[0]:
        raise ValueError(f"need W1 (h x d_in) and W2 (d_out x h), got {w1.shape} and {w2.shape}")
    a, b = w2.T @ w2, w1 @ w1.T
    d = a - b
    lam = float(np.trace(d)) / d.shape[0]
    deviation = np.linalg.norm(d - lam * np.eye(d.shape[0]))
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    if not deviation <= tol * scale:
        raise ValueError(
            f"the start is not lambda-balanced: ||W2^T W2 - W1 W1^T - lambda I|| = "
            f"{deviation:.3g} at lambda = {lam:.6g} (relative {deviation / scale:.3g} > {tol:g})"
        )
    return lam


def flow_matrix(sigma_yx, lam: float) -> np.ndarray:
    """F = [[-lambda/2 I, S^T], [S, lambda/2 I]] of the Riccati equation dP/dt = FP + PF - P^2."""
    s = np.asarray(sigma_yx, dtype=float)
    d_out, d_in = s.shape
    return np.block([[-0.5 * lam * np.eye(d_in), s.T], [s, 0.5 * lam * np.eye(d_out)]])


def _phi(f: np.ndarray, t: float) -> np.ndarray:
    """int_0^t e^{2 f s} ds = expm1(2 f t)/(2 f), and t where f = 0."""
    safe = np.where(f == 0.0, 1.0, f)
    return np.where(f == 0.0, t, np.expm1(2.0 * safe * t) / (2.0 * safe))


def _advance(q: np.ndarray, o: np.ndarray, f: np.ndarray, dt: float) -> np.ndarray:
    """The factor e^{F dt} Q K^{-1/2} of P(dt) from the factor Q of P(0), K = I + Q^T G(dt) Q."""
    if dt == 0.0:
        return q
    b = o.T @ q
    k = np.eye(q.shape[1]) + b.T @ (_phi(f, dt)[:, None] * b)
    kv, kw = np.linalg.eigh(k)  # K >= I
    return o @ (np.exp(f * dt)[:, None] * b) @ ((kw / np.sqrt(kv)) @ kw.T)


def lambda_balanced_flow(w1_0, w2_0, sigma_yx, times, *, sigma_xx=None,
                         tol: float = BALANCE_TOL, step_exponent: float = 4.0) -> dict:
    """The exact gradient flow of f(x) = W2 W1 x from the lambda-balanced start (W1, W2) at
    ``times`` (>= 0, any order), for L = (1/2) sum_i ||y_i - W2 W1 x_i||^2 with whitened inputs.

    ``sigma_yx`` = sum_i y_i x_i^T (d_out x d_in); ``sigma_xx``, if given, must be the identity
    (ValueError otherwise, as for a start that is not lambda-balanced within ``tol``; see
    :func:`balance_level`). See the module docstring for the formula and ``step_exponent``.

    Returns, stacked over ``times``: ``t``; ``map`` = W2 W1 (d_out x d_in); ``w1t_w1`` = W1^T W1;
    ``w2_w2t`` = W2 W2^T; ``qqt`` = QQ^T with Q = [W1^T; W2]; ``q``, a factor of QQ^T (not the
    network's own W1^T, W2: they differ by an h x h rotation); and ``lambda`` and ``f`` (F).
    """
    w1, w2 = np.asarray(w1_0, dtype=float), np.asarray(w2_0, dtype=float)
    s = np.asarray(sigma_yx, dtype=float)
    lam = balance_level(w1, w2, tol)
    h, d_in = w1.shape
    d_out = w2.shape[0]
    if s.shape != (d_out, d_in):
        raise ValueError(f"sigma_yx must be (d_out, d_in) = {(d_out, d_in)}, got {s.shape}")
    if sigma_xx is not None:
        sxx = np.asarray(sigma_xx, dtype=float)
        if sxx.shape != (d_in, d_in):
            raise ValueError(f"sigma_xx must be (d_in, d_in) = {(d_in, d_in)}, got {sxx.shape}")
        deviation = np.linalg.norm(sxx - np.eye(d_in))
        if not deviation <= tol * np.sqrt(d_in):
            raise ValueError(f"the inputs are not whitened: ||Sigma_xx - I|| = {deviation:.3g}; "
                             "the closed form needs Sigma_xx = I")
    times = np.asarray(times, dtype=float).reshape(-1)
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError("times must be finite and >= 0")
    if not step_exponent > 0:
        raise ValueError(f"step_exponent must be positive, got {step_exponent}")

    big_f = flow_matrix(s, lam)
    f, o = np.linalg.eigh(big_f)
    rate = 2.0 * float(np.max(np.abs(f)))
    max_dt = step_exponent / rate if rate > 0 else np.inf
    q0 = np.concatenate([w1.T, w2], axis=0)

    factors = np.empty((len(times),) + q0.shape)
    q, now = q0, 0.0
    for i in np.argsort(times, kind="stable"):
        if np.isinf(step_exponent):
            q, now = _advance(q0, o, f, times[i]), times[i]
        while now < times[i]:
            dt = min(max_dt, times[i] - now)
            q = _advance(q, o, f, dt)
            now = times[i] if dt == times[i] - now else now + dt
        factors[i] = q

    qqt = factors @ np.swapaxes(factors, 1, 2)
    return {
        "t": times, "map": qqt[:, d_in:, :d_in], "w1t_w1": qqt[:, :d_in, :d_in],
        "w2_w2t": qqt[:, d_in:, d_in:], "qqt": qqt, "q": factors, "lambda": lam, "f": big_f,
    }


def _haar_columns(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """n x k with orthonormal columns, Haar-distributed (QR with the sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((n, k)))
    return q * np.sign(np.diag(r))


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    v, w = np.linalg.eigh(a)
    return (w * np.sqrt(np.clip(v, 0.0, None))) @ w.T


def random_lambda_balanced(d_in: int, h: int, d_out: int, lam: float,
                           rng: np.random.Generator, scale: float = 1.0
                           ) -> tuple[np.ndarray, np.ndarray]:
    """A random lambda-balanced start (W1 (h x d_in), W2 (d_out x h)): W2^T W2 - W1 W1^T = lam I.

    For lam >= 0 (needs d_out >= h): W1 Gaussian with entries of size ``scale``/sqrt(d_in) and
    W2 = U (W1 W1^T + lam I)^{1/2} with U (d_out x h) Haar with orthonormal columns; for lam < 0
    (needs d_in >= h) the mirror image, W2 Gaussian and W1 = (W2^T W2 - lam I)^{1/2} V^T. In
    SVD form this is Dominé et al.'s construction W1 = R diag(b) V^T,
    W2 = U diag(sqrt(b^2 + lam)) R^T with a shared rotation R. lam = 0 with d_out < h uses the
    lam < 0 branch (it needs d_in >= h).
    """
    if min(d_in, h, d_out) < 1:
        raise ValueError(f"dimensions must be positive, got {(d_in, h, d_out)}")
    lower_from_upper = lam > 0 or (lam == 0 and d_out >= h)
    if lower_from_upper and d_out < h:
        raise ValueError(f"lam > 0 needs d_out >= h (got d_out = {d_out}, h = {h})")
    if not lower_from_upper and d_in < h:
        raise ValueError(f"lam <= 0 here needs d_in >= h (got d_in = {d_in}, h = {h})")
    if lower_from_upper:
        w1 = scale * rng.standard_normal((h, d_in)) / np.sqrt(d_in)
        w2 = _haar_columns(rng, d_out, h) @ _sqrtm_psd(w1 @ w1.T + lam * np.eye(h))
    else:
        w2 = scale * rng.standard_normal((d_out, h)) / np.sqrt(d_out)
        w1 = _sqrtm_psd(w2.T @ w2 - lam * np.eye(h)) @ _haar_columns(rng, d_in, h).T
    return w1, w2
