"""Imbalance, rate bounds and the min-norm bias of f(x) = V U^T x (Min, Tarmoun, Vidal, Mallada,
arXiv 2105.06351; PAPERS.md §4).

Row-vector convention: X (N x D), Y (N x m), U (D x h), V (m x h), L = ||Y - X U V^T||_F^2 / 2.
In the library's models this is ``deep_linear((D, h, m))`` with ``layer1 = U^T`` (h neurons of
dimension D) and ``layer2 = V``. With the SVD X = W Sigma_x^{1/2} Phi_1^T (r = rank X) and
U = Phi_1 U_1 + Phi_2 U_2:

- the imbalance D = U_1^T U_1 - V^T V and U_2 are conserved by gradient flow; so is the set
  {V U_2^T = 0, U_1 U_2^T = 0}, from which the flow ends at the min-norm solution X^+ Y;
- Delta_+ = [lambda_1(D)]_+ - [lambda_r(D)]_+, Delta_- = [lambda_1(-D)]_+ - [lambda_m(-D)]_+,
  Delta = [lambda_r(D)]_+ + [lambda_m(-D)]_+ (eigenvalues in decreasing order);
- Theorem 3: L(t) - L* <= exp(-lambda_r(Sigma_x) c(0) t) (L(0) - L*), with c from the
  imbalance and the margin sigma(Y~) - ||Y~ - Sigma_x^{1/2} U_1 V^T||_F, Y~ = W^T Y;
- Proposition 1: -dL~/dt / L~ >= lambda_r(Sigma_x) [-Delta_+ + sqrt((Delta_+ + Delta)^2 +
  4 sigma_m(U_1 V^T)^2) - Delta_- + sqrt((Delta_- + Delta)^2 + 4 sigma_r(U_1 V^T)^2)].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RowSpace:
    """X = W diag(sqrt(sigma_x)) Phi_1^T; ``phi_2`` spans ker X; ``sigma_x`` decreasing."""

    w: np.ndarray
    sigma_x: np.ndarray
    phi_1: np.ndarray
    phi_2: np.ndarray

    @property
    def rank(self) -> int:
        return len(self.sigma_x)


def row_space(x: np.ndarray, rtol: float = 1e-10) -> RowSpace:
    """The SVD split of X into its row space and kernel (singular values below rtol * largest
    count as zero)."""
    w, s, vt = np.linalg.svd(x, full_matrices=True)
    r = int(np.sum(s > rtol * s[0]))
    return RowSpace(w=w[:, :r], sigma_x=s[:r] ** 2, phi_1=vt[:r].T, phi_2=vt[r:].T)


def split_u(u: np.ndarray, rs: RowSpace) -> tuple[np.ndarray, np.ndarray]:
    """(U_1, U_2) with U = Phi_1 U_1 + Phi_2 U_2."""
    return rs.phi_1.T @ u, rs.phi_2.T @ u


def imbalance(u: np.ndarray, v: np.ndarray, rs: RowSpace) -> np.ndarray:
    """D = U_1^T U_1 - V^T V (h x h), conserved by gradient flow."""
    u1, _ = split_u(u, rs)
    return u1.T @ u1 - v.T @ v


def _plus(a: float) -> float:
    return max(float(a), 0.0)


def imbalance_levels(d: np.ndarray, r: int, m: int) -> dict[str, float]:
    """Delta_+, Delta_- and the effective imbalance Delta from the spectrum of D (h x h); the
    theory needs h >= r = rank X and h >= m."""
    if d.shape[0] < max(r, m):
        raise ValueError(f"width h={d.shape[0]} is below what the bounds need: h >= rank X = "
                         f"{r} and h >= m = {m}")
    eig = np.sort(np.linalg.eigvalsh(d))[::-1]
    neg = np.sort(-eig)[::-1]
    return {"delta_plus": _plus(eig[0]) - _plus(eig[r - 1]),
            "delta_minus": _plus(neg[0]) - _plus(neg[m - 1]),
            "delta": _plus(eig[r - 1]) + _plus(neg[m - 1])}


def _sv(a: np.ndarray, k: int) -> float:
    """The k-th largest singular value (1-based), 0 beyond the matrix's size."""
    s = np.linalg.svd(a, compute_uv=False)
    return float(s[k - 1]) if k <= len(s) else 0.0


def theorem3_rate(x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> dict:
    """c of Theorem 3 at (U, V), the rate lambda_r(Sigma_x) c, and L* (the unreachable part)."""
    rs = row_space(x)
    m = y.shape[1]
    levels = imbalance_levels(imbalance(u, v, rs), rs.rank, m)
    y_tilde = rs.w.T @ y
    u1, _ = split_u(u, rs)
    error = np.linalg.norm(y_tilde - np.sqrt(rs.sigma_x)[:, None] * (u1 @ v.T))
    top = rs.sigma_x[0]

    def term(delta_side: float, sigma: float) -> float:
        margin = max(sigma - error, 0.0)
        return -delta_side + np.sqrt((delta_side + levels["delta"]) ** 2 + 4 * margin**2 / top)

    c = term(levels["delta_plus"], _sv(y_tilde, m)) + term(levels["delta_minus"],
                                                           _sv(y_tilde, rs.rank))
    residual = y - rs.w @ y_tilde
    return {**levels, "c": float(c), "rate": float(rs.sigma_x[-1] * c),
            "l_star": float(0.5 * np.sum(residual**2))}


def proposition1_rate(x: np.ndarray, u: np.ndarray, v: np.ndarray, m: int) -> float:
    """The lower bound of Proposition 1 on -dL~/dt / L~ at (U, V)."""
    rs = row_space(x)
    levels = imbalance_levels(imbalance(u, v, rs), rs.rank, m)
    u1, _ = split_u(u, rs)
    product = u1 @ v.T
    dp, dm, d = levels["delta_plus"], levels["delta_minus"], levels["delta"]
    return float(rs.sigma_x[-1] * (
        -dp + np.sqrt((dp + d) ** 2 + 4 * _sv(product, m) ** 2)
        - dm + np.sqrt((dm + d) ** 2 + 4 * _sv(product, rs.rank) ** 2)))


def min_norm_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Theta^ = X^+ Y (D x m), the interpolating end-to-end map of least norm."""
    return np.linalg.pinv(x) @ y


def balanced_init(theta: np.ndarray, x: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, ...]:
    """(U, V) with U V^T = theta and imbalance D = 0: U = theta M^{-1/4} Q^T, V = M^{1/4} Q^T
    with M = theta^T Phi_1 Phi_1^T theta and Q (h x m) orthonormal columns (Q^T Q = I_m)."""
    rs = row_space(x)
    projected = rs.phi_1.T @ theta
    vals, vecs = np.linalg.eigh(projected.T @ projected)
    quarter = (vecs * vals**0.25) @ vecs.T
    return theta @ np.linalg.inv(quarter) @ q.T, quarter @ q.T


def orthogonal_init(x: np.ndarray, m: int, h: int, scale: float,
                    rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """A start in the invariant set {V U_2^T = 0, U_1 U_2^T = 0} with U_2 != 0: the first h//2
    columns carry U_1 and V (no kernel part), the rest only U_2 (no row-space part, V = 0)."""
    rs = row_space(x)
    half = h // 2
    u1 = np.zeros((rs.rank, h))
    u1[:, :half] = scale * rng.randn(rs.rank, half)
    u2 = np.zeros((rs.phi_2.shape[1], h))
    u2[:, half:] = scale * rng.randn(rs.phi_2.shape[1], h - half)
    v = np.zeros((m, h))
    v[:, :half] = scale * rng.randn(m, half)
    return rs.phi_1 @ u1 + rs.phi_2 @ u2, v
