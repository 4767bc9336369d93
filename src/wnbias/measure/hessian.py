"""Curvature of the loss and of the predictor: matrix-free Hessian spectra of WN nets.

Setting (Cisneros-Velarde, Chen, Koyejo & Banerjee, "Optimization and Generalization Guarantees
for Weight Normalization", arXiv 2409.08935): for a deep WeightNorm net, the spectral norm of
the predictor's Hessian ||nabla^2_theta f(theta; x)||_2 is bounded in terms of the width m and
the normalization term rho = min_i ||w_i|| over the normalized rows, and the loss Hessian's
extreme eigenvalues control the optimization guarantees. These tools measure both on parameter
pytrees with millions of entries (width 1024-2048 MLPs), so nothing forms a P x P matrix except
:func:`dense_hessian` (small nets, checks).

Everything rests on the Hessian-vector product by forward-over-reverse autodiff,

    H v = d/dt grad L(theta + t v) |_{t=0} = jvp(grad L, (theta,), (v,)),

one gradient's cost (a few passes), exact up to rounding. On top of it:

- extreme eigenvalues and the spectral norm max_j |lambda_j| by Lanczos (ARPACK's implicitly
  restarted Lanczos, ``scipy.sparse.linalg.eigsh``), with a residual check
  ||H u - lambda u|| / |lambda| for the returned unit vector u by one extra HVP;
- plain power iteration u <- H u / ||H u|| (a benchmark against Lanczos: it converges like
  (|lambda_2| / |lambda_1|)^t, Lanczos like a Chebyshev polynomial of the gap);
- Hutchinson's trace estimator tr H = E[z^T H z] with Rademacher z (E[z z^T] = I), variance
  2 sum_{i != j} H_ij^2 per probe.

Compilation: the HVPs are jitted at module level with the function as a static argument (it
hashes by identity, like :class:`wnbias.objective.Objective`) and theta, the tangent, the data
``args`` and, for the predictor, the input row and output index as traced arguments. Passing
the same function object again therefore reuses the compiled program; a fresh lambda per call
compiles again (pass ``objective.loss`` with ``args=(x, y)``: bound methods of one object
compare equal). The programs are kept across processes by :mod:`wnbias.programs`, keyed by the
jaxpr of the function on the call's shapes (a trace of the function alone, not of its
Hessian), so a later process neither traces nor lowers them. The cache in memory keeps a
reference to each function passed (and whatever it closes over).

Dtypes: the HVP runs in theta's dtype (float32 or float64); scipy always sees float64 vectors.
In float32 the HVP carries ~1e-7 relative noise, so ask for tol >~ 1e-5 there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.flatten_util import ravel_pytree
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from ..programs import call, fingerprint_of

_TINY = np.finfo(np.float64).tiny


def hvp(fun: Callable, theta, v):
    """H v with H = nabla^2 fun(theta), by forward-over-reverse: jvp(grad fun, (theta,), (v,)).

    ``v`` is a pytree like ``theta``; so is the result.
    """
    return jax.jvp(jax.grad(fun), (theta,), (v,))[1]


def dense_hessian(fun: Callable, theta) -> np.ndarray:
    """The P x P Hessian of ``fun`` at ``theta`` in ``ravel_pytree`` order (theta's dtype).

    H_ab = d^2 fun / d theta_a d theta_b, one HVP per column (vmapped over the identity).
    """
    flat, unravel = ravel_pytree(theta)

    def flat_fun(f):
        return fun(unravel(f))

    eye = jnp.eye(flat.size, dtype=flat.dtype)
    columns = jax.jit(jax.vmap(lambda e: hvp(flat_fun, flat, e)))(eye)  # one program, not eager
    return np.asarray(columns).T  # rows of the vmap are columns H e_b; H is symmetric anyway


@dataclass(frozen=True)
class Eigen:
    """One eigenvalue estimate with its certificate.

    ``value`` is None when the solver did not converge (then only ``residual`` means anything);
    ``residual`` = ||H u - lambda u|| / max(|lambda|, tiny) for the returned unit vector u and
    its signed Rayleigh quotient lambda, by one extra HVP; ``matvecs`` counts the HVPs used,
    that one included.
    """

    value: float | None
    residual: float
    converged: bool
    matvecs: int

    def __str__(self) -> str:
        if self.value is None:
            return f"not converged (residual {self.residual:.1g} after {self.matvecs} HVPs)"
        return f"{self.value:.6g} (residual {self.residual:.1g})"


def _ravel_hvp(fun: Callable, theta, u: Array, *args) -> Array:
    """H u on the flattened parameters (u in ``ravel_pytree(theta)`` order), H the Hessian of
    ``fun(theta, *args)`` in theta."""
    _, unravel = ravel_pytree(theta)
    objective = (lambda th: fun(th, *args)) if args else fun
    return ravel_pytree(hvp(objective, theta, unravel(u)))[0]


def _by_store(program, args: tuple, fun: Callable, fun_args: tuple, **statics):
    """``program(*args, fun=fun, **statics)`` by the program store, its key the jaxpr of
    ``fun(*fun_args)`` and the other statics (they and ``fun`` determine the program)."""
    return call(program, args, {"fun": fun, **statics},
                lambda: (fingerprint_of(fun, *fun_args), repr(sorted(statics.items()))))


@partial(jax.jit, static_argnames="fun")
def _flat_hvp(theta, u: Array, args: tuple, *, fun: Callable) -> Array:
    return _ravel_hvp(fun, theta, u, *args)


class _HVPOperator(LinearOperator):
    """A symmetric float64 ``LinearOperator`` from a flat HVP, counting its matvecs.

    It also keeps the best vector it has been applied to (by ``score`` of its Rayleigh
    quotient), the fallback eigenvector estimate when ARPACK stops without a converged one.
    """

    def __init__(self, apply: Callable[[np.ndarray], Array], size: int, dtype):
        super().__init__(dtype=np.float64, shape=(size, size))
        self._apply = apply
        self._dtype = dtype  # theta's: the HVP computes in it
        self.matvecs = 0
        self.score: Callable[[float], float] | None = None
        self.best: np.ndarray | None = None
        self._best_score = -np.inf

    def hvp(self, x: np.ndarray) -> np.ndarray:
        """H x for a flat float64 vector x (float64 result, computed in theta's dtype)."""
        self.matvecs += 1
        y = np.asarray(self._apply(np.asarray(x, dtype=self._dtype)), dtype=np.float64)
        if self.score is not None:
            self._track(x, y)
        return y

    def _track(self, x: np.ndarray, y: np.ndarray) -> None:
        xx = float(x @ x)
        if xx > 0:
            s = self.score(float(x @ y) / xx)
            if s > self._best_score:
                self._best_score, self.best = s, x.copy()

    def watch(self, score: Callable[[float], float] | None) -> None:
        """Start tracking the best vector under ``score`` (None: stop)."""
        self.score, self.best, self._best_score = score, None, -np.inf

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self.hvp(np.ravel(x)).reshape(np.shape(x))

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)  # symmetric


def _device_tree(theta):
    """theta with every leaf on the device once, so no matvec re-transfers the parameters."""
    return jax.tree.map(jnp.asarray, theta)


def hessian_operator(fun: Callable, theta, args: tuple = ()) -> LinearOperator:
    """nabla^2 fun(theta, *args) in theta, as a float64 ``LinearOperator`` over
    ``ravel_pytree(theta)``.

    Each matvec is one jitted HVP in theta's dtype (compiled once per function, shapes and
    dtypes); the operator's ``matvecs`` attribute counts them. ``args`` (arrays, e.g. the data)
    are traced arguments of that program: pass ``objective.loss`` with ``args=(x, y)`` rather
    than a fresh ``lambda th: objective.loss(th, x, y)``, and a later call reuses the program.
    """
    theta, args = _device_tree(theta), _device_tree(tuple(args))
    flat, _ = ravel_pytree(theta)
    return _HVPOperator(lambda u: _by_store(_flat_hvp, (theta, u, args), fun, (theta, *args)),
                        flat.size, flat.dtype)


def _start_vector(size: int) -> np.ndarray:
    """A fixed random start for ARPACK: reproducible, and generic (no eigenvector missed)."""
    return np.random.default_rng(0).standard_normal(size)


def _certify(op: _HVPOperator, u: np.ndarray) -> tuple[float, float]:
    """(lambda, residual) of u: lambda = u^T H u / u^T u, ||H u - lambda u|| / max(|lambda|, tiny)
    for u normalized, by one HVP."""
    u = u / np.linalg.norm(u)
    hu = op.hvp(u)
    lam = float(u @ hu)
    return lam, float(np.linalg.norm(hu - lam * u)) / max(abs(lam), _TINY)


_SCORES = {"LA": lambda lam: lam, "SA": lambda lam: -lam, "LM": abs}


def _lanczos(op: _HVPOperator, which: str, tol: float, maxiter: int | None,
             ncv: int | None) -> tuple[float | None, float, bool, int]:
    """(signed eigenvalue or None, residual, converged, matvecs) of one ARPACK solve, k = 1.

    On ``ArpackNoConvergence`` the residual is that of the best vector available: a partially
    converged Ritz vector if ARPACK returned one, else the applied vector with the best Rayleigh
    quotient for ``which``.
    """
    start = op.matvecs
    op.watch(_SCORES[which])
    try:
        _, vecs = eigsh(op, k=1, which=which, tol=tol, maxiter=maxiter, ncv=ncv,
                        v0=_start_vector(op.shape[0]))
        u, converged = vecs[:, 0], True
    except ArpackNoConvergence as err:
        vecs = err.eigenvectors
        u = vecs[:, 0] if vecs is not None and vecs.size else op.best
        converged = False
    op.watch(None)
    if u is None:  # nothing applied at all: certify the start vector
        u = _start_vector(op.shape[0])
    lam, residual = _certify(op, u)
    return (lam if converged else None), residual, converged, op.matvecs - start


def extreme_eigenvalues(fun: Callable, theta, *, args: tuple = (), tol: float = 1e-8,
                        maxiter: int | None = None,
                        ncv: int | None = None) -> tuple[Eigen, Eigen]:
    """(lambda_max, lambda_min) of nabla^2 fun(theta, *args), the algebraic extremes, by
    Lanczos.

    Two ARPACK solves (which "LA" and "SA") on one :func:`hessian_operator`; ``tol``,
    ``maxiter`` and ``ncv`` go to ``eigsh`` (maxiter None: scipy's default, 10 P restarts).
    The value is the Rayleigh quotient of the returned vector.
    """
    op = hessian_operator(fun, theta, args)
    return tuple(Eigen(*_lanczos(op, which, tol, maxiter, ncv)) for which in ("LA", "SA"))


def _norm_eigen(lam: float | None, residual: float, converged: bool, matvecs: int) -> Eigen:
    return Eigen(None if lam is None else abs(lam), residual, converged, matvecs)


def spectral_norm(fun: Callable, theta, *, args: tuple = (), tol: float = 1e-8,
                  maxiter: int | None = None) -> Eigen:
    """||nabla^2 fun(theta, *args)||_2 = max_j |lambda_j|, by Lanczos (eigsh which="LM").

    The residual is that of the signed eigenvalue lambda, the value |lambda|.
    """
    return _norm_eigen(*_lanczos(hessian_operator(fun, theta, args), "LM", tol, maxiter, None))


@partial(jax.jit, static_argnames="fun")
def _power_iteration(theta, key: Array, iters: Array, tol: Array, *, fun: Callable):
    """Power iteration u <- H u / ||H u|| while |rq_t - rq_{t-1}| >= tol |rq_t| and t < iters,
    rq_t = u_t^T H u_t; then the residual of the last u by one more HVP."""
    flat, _ = ravel_pytree(theta)

    def apply(u):
        return _ravel_hvp(fun, theta, u)

    def not_done(state):
        _, rq, rq_prev, t = state
        return (t < iters) & (jnp.abs(rq - rq_prev) >= tol * jnp.abs(rq))

    def step(state):
        u, rq, _, t = state
        hu = apply(u)
        return hu / jnp.linalg.norm(hu), jnp.vdot(u, hu), rq, t + 1

    u0 = jax.random.normal(key, flat.shape, flat.dtype)
    u0 = u0 / jnp.linalg.norm(u0)
    inf = jnp.asarray(jnp.inf, flat.dtype)  # rq_prev = inf, rq = 0: the first test passes
    u, rq, rq_prev, t = jax.lax.while_loop(not_done, step, (u0, jnp.zeros((), flat.dtype), inf,
                                                            jnp.zeros((), jnp.int32)))
    converged = jnp.abs(rq - rq_prev) < tol * jnp.abs(rq)
    hu = apply(u)
    lam = jnp.vdot(u, hu)
    residual = jnp.linalg.norm(hu - lam * u) / jnp.maximum(jnp.abs(lam), _TINY)
    return lam, residual, converged, t


def power_iteration(fun: Callable, theta, *, key: Array, iters: int = 100,
                    tol: float = 1e-8) -> Eigen:
    """|lambda_1|, the dominant eigenvalue's modulus, by power iteration on the HVP.

    Stops when the Rayleigh quotient changes by less than ``tol`` relative (or after ``iters``
    HVPs: then not converged). One jitted ``lax.while_loop`` from a normal start drawn with
    ``key``. The Rayleigh quotient converges about twice as fast as the vector, so the residual
    (one extra HVP) is typically ~sqrt(tol). With lambda_1 ~ -lambda_2 it does not converge.
    """
    theta = _device_tree(theta)
    flat, _ = ravel_pytree(theta)
    lam, residual, converged, t = _by_store(
        _power_iteration, (theta, key, jnp.asarray(iters, jnp.int32),
                           jnp.asarray(tol, flat.dtype)), fun, (theta,))
    converged = bool(converged)
    value = abs(float(lam)) if converged else None
    return Eigen(value, float(residual), converged, int(t) + 1)


@partial(jax.jit, static_argnames=("fun", "samples"))
def _hutchinson_samples(theta, key: Array, *, fun: Callable, samples: int) -> Array:
    """z_s^T H z_s for ``samples`` Rademacher probes z_s, one after another (``lax.map``)."""
    flat, _ = ravel_pytree(theta)

    def probe(k):
        z = jax.random.rademacher(k, flat.shape, flat.dtype)
        return jnp.vdot(z, _ravel_hvp(fun, theta, z))

    return jax.lax.map(probe, jax.random.split(key, samples))


def hutchinson_trace(fun: Callable, theta, *, key: Array,
                     samples: int = 100) -> tuple[float, float]:
    """(estimate, standard error) of tr nabla^2 fun(theta) by Hutchinson's estimator.

    tr H ~ (1/S) sum_s z_s^T H z_s with Rademacher z_s (entries +-1), standard error
    std(z_s^T H z_s, ddof=1) / sqrt(S). The probes run sequentially, so the memory is that of
    one HVP at any width.
    """
    if samples < 2:
        raise ValueError(f"samples must be >= 2 for a standard error, got {samples}")
    theta = _device_tree(theta)
    values = np.asarray(_by_store(_hutchinson_samples, (theta, key), fun, (theta,),
                                  samples=samples), dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(samples))


def _tridiagonal_extreme(alpha: Array, beta: Array) -> tuple[Array, Array]:
    """(largest |Ritz value|, its residual bound) of the Lanczos tridiagonal T (diagonal alpha,
    off-diagonal beta[:-1]): |beta_last s_last| / |theta| for the Ritz pair (theta, s)."""
    t = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
    values, vectors = jnp.linalg.eigh(t)
    j = jnp.argmax(jnp.abs(values))
    value = jnp.abs(values[j])
    return value, jnp.abs(beta[-1] * vectors[-1, j]) / jnp.maximum(value, _TINY)


@partial(jax.jit, static_argnames=("fun", "iters"))
def _predictor_lanczos(theta, xs: Array, ks: Array, v0: Array, *, fun: Callable, iters: int):
    """Lanczos without reorthogonalization, ``iters`` steps, for every pair (x_i, k) at once
    (lax.map in batches: memory of a few P-vectors per pair in flight). Its extreme Ritz values
    converge first and lost orthogonality only duplicates them; an exhausted Krylov space
    (beta ~ 0: the single-input Hessian has low rank) stops the recurrence exactly."""
    def one(pair):
        xi, k = pair
        matvec = lambda u: _ravel_hvp(lambda th: fun(th, xi[None])[0, k], theta, u)  # noqa: E731

        def step(carry, _):
            v, v_prev, beta, done = carry
            w = matvec(v) - beta * v_prev
            a = jnp.vdot(w, v)
            w = w - a * v
            b = jnp.linalg.norm(w)
            stop = done | (b <= 1e-10 * jnp.abs(a) + _TINY)
            v_next = jnp.where(stop, v, w / jnp.where(stop, 1.0, b))
            return (v_next, v, jnp.where(stop, 0.0, b), stop), (jnp.where(done, 0.0, a),
                                                               jnp.where(stop, 0.0, b))

        v = v0 / jnp.linalg.norm(v0)
        zero = jnp.zeros((), v.dtype)
        _, (alpha, beta) = jax.lax.scan(step, (v, jnp.zeros_like(v), zero, jnp.asarray(False)),
                                        None, length=iters)
        return _tridiagonal_extreme(alpha.astype(jnp.float64), beta.astype(jnp.float64))

    return jax.lax.map(one, (xs, ks), batch_size=8)


def predictor_hessian_norm(predict: Callable, theta, x, *, outputs=None, tol: float = 1e-6,
                           iters: int = 64) -> tuple[float | None, list[dict]]:
    """max_{i, k} ||nabla^2_theta f_k(theta; x_i)||_2 over the rows x_i of ``x``.

    ``predict(theta, x) -> (n, K)``; ``outputs`` are the coordinates k (default: all K). All
    (i, k) pairs run as one jitted Lanczos of ``iters`` HVPs each (one program per shape, for
    all calls); a pair converged when its residual bound |beta_m s_m| / |theta| <= ``tol``.
    Returns (the maximum, None if any pair did not converge; the per-pair records {"input",
    "output", "value", "residual", "converged"}, value |lambda| or None).
    """
    theta = _device_tree(theta)
    x = np.asarray(x)  # the pairs are gathered here, not as small programs of their own
    leaves = jax.tree.leaves(theta)
    size, dtype = sum(leaf.size for leaf in leaves), jnp.result_type(*leaves)
    if outputs is None:
        outputs = range(jax.eval_shape(predict, theta, x[:1]).shape[1])
    pairs = [(i, int(k)) for i in range(x.shape[0]) for k in outputs]
    xs = x[np.asarray([i for i, _ in pairs], int)]
    ks = np.asarray([k for _, k in pairs], np.int32)
    v0 = np.asarray(_start_vector(size), dtype)
    row = jax.ShapeDtypeStruct((1, *x.shape[1:]), x.dtype)
    values, residuals = map(np.asarray, _by_store(_predictor_lanczos, (theta, xs, ks, v0),
                                                  predict, (theta, row), iters=int(iters)))
    records = [{"input": i, "output": k, "value": float(v) if r <= tol else None,
                "residual": float(r), "converged": bool(r <= tol)}
               for (i, k), v, r in zip(pairs, values, residuals, strict=True)]
    if all(r["converged"] for r in records):
        return max(r["value"] for r in records), records
    return None, records


def min_row_norm(layers: Mapping[str, Array]) -> float:
    """rho = min over the layers' rows of ||w_i||: the paper's normalization term.

    Arrays are neuron-major (n_out, fan_in, ...): row i is w[i], its norm over the other axes.
    """
    if not layers:
        raise ValueError("min_row_norm needs at least one layer")
    return min(float(jnp.min(jnp.linalg.norm(jnp.reshape(w, (w.shape[0], -1)), axis=1)))
               for w in layers.values())
