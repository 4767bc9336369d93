"""Losses evaluated in the log domain (PAPERS.md §1.3).

Each loss gives ``log l_i`` per example; the total loss is the sum L = sum_i l_i (reduction
"sum") or the mean L = (1/n) sum_i l_i ("mean"), and ``log L = logsumexp_i log l_i`` (minus
log n for the mean). Gradients are taken of ``log L`` (grad L = L grad log L), so training stays
finite and accurate down to log-loss -300 and far beyond, in float64 and float32: the same effect
as the authors' normalized loss L/L_prev, without the bookkeeping.

Classification losses (exponential, logistic, cross-entropy) come with their margins s_i;
binary labels are y in {-1, +1}, multi-class labels integer classes. The square loss
l_i = ||f_i - y_i||^2 / 2 (y shaped as f) has no margin; its log L is computed from the
residuals directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import logsumexp

# Below this, log(log1p(e^z)) = z - e^z/2 to within e^(2z)/3 (< 1e-26 relative).
_SERIES_CUTOFF = -30.0


def log_softplus(z: Array) -> Array:
    """log(log(1 + e^z)), accurate for every z (e^z may underflow).

    Above the cutoff, softplus(z) = max(z, 0) + log1p(e^-|z|); below it the series
    z + log1p(-e^z/2) ~ z - e^z/2 (error < e^(2z)/3). Both branches are clamped so that their
    gradients stay finite where they are not selected.
    """
    small = jnp.minimum(z, _SERIES_CUTOFF)
    big = jnp.maximum(z, _SERIES_CUTOFF)
    softplus_big = jnp.maximum(big, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(big)))
    return jnp.where(z < _SERIES_CUTOFF, small - 0.5 * jnp.exp(small), jnp.log(softplus_big))


def binary_margins(f: Array, y: Array) -> Array:
    """s_i = y_i f(x_i)."""
    return y * f


def multiclass_margins(f: Array, y: Array) -> Array:
    """s_i = f_{y_i}(x_i) - max_{j != y_i} f_j(x_i)."""
    f_true = jnp.take_along_axis(f, y[:, None], axis=1)[:, 0]
    others = jnp.where(jnp.arange(f.shape[1]) == y[:, None], -jnp.inf, f)
    return f_true - jnp.max(others, axis=1)


def _exponential(f: Array, y: Array) -> Array:
    return -binary_margins(f, y)


def _logistic(f: Array, y: Array) -> Array:
    return log_softplus(-binary_margins(f, y))


def _cross_entropy(f: Array, y: Array) -> Array:
    # Margin form: l_i = log(1 + sum_{j != y} exp(f_j - f_y)) = softplus(z_i).
    f_true = jnp.take_along_axis(f, y[:, None], axis=1)
    others = jnp.where(jnp.arange(f.shape[1]) == y[:, None], -jnp.inf, f - f_true)
    return log_softplus(logsumexp(others, axis=1))


def _log_half_sum_squares(r: Array, axis) -> Array:
    """log(sum_axis r^2 / 2), accurate down to |r| ~ 1e-300 (r^2 underflows below 1e-154).

    The residuals are scaled by s = max |r| first, log(sum r^2/2) = 2 log s + log(sum (r/s)^2/2),
    so r^2 cannot underflow. s is held constant under differentiation (the identity holds for
    every s), and s = 1 where every residual is 0, which gives log 0 = -inf without a NaN.
    """
    scale = jax.lax.stop_gradient(jnp.max(jnp.abs(r), axis=axis, keepdims=True))
    scale = jnp.where(scale > 0, scale, 1.0)
    half_sum = 0.5 * jnp.sum((r / scale) ** 2, axis=axis)
    return 2.0 * jnp.log(jnp.squeeze(scale, axis)) + jnp.log(half_sum)


def _example_axes(r: Array) -> tuple[int, ...]:
    """The output axes of a residual ``(n, ...)``: one example's loss sums over them."""
    return tuple(range(1, r.ndim))


def _residual(f: Array, y: Array) -> Array:
    """f - y, refusing shapes that would broadcast: (n,) - (n, 1) is an (n, n) matrix."""
    if f.shape != y.shape:
        raise ValueError(f"square loss: predictions of shape {f.shape} against targets of shape "
                         f"{y.shape}; give targets of the predictions' shape")
    return f - y


def _square(f: Array, y: Array) -> Array:
    # log l_i = log(||f_i - y_i||^2 / 2): -inf at a zero residual. Only the total is
    # differentiated (``_square_log_sum``), so that -inf never meets a gradient.
    r = _residual(f, y)
    return _log_half_sum_squares(r, _example_axes(r))


def _square_log_sum(f: Array, y: Array) -> Array:
    # log sum_i l_i from all residuals at once. logsumexp of the log l_i would give a NaN
    # gradient as soon as one residual is 0: its softmax weight 0 times the infinite gradient of
    # log l_i = 2 log|r_i| - log 2.
    r = _residual(f, y)
    return _log_half_sum_squares(r, tuple(range(r.ndim)))


def _squared_error(f: Array, y: Array) -> Array:
    # log ||f_i - y_i||^2, without the 1/2 of ``square``
    return _square(f, y) + math.log(2.0)


def _squared_error_log_sum(f: Array, y: Array) -> Array:
    return _square_log_sum(f, y) + math.log(2.0)


REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class Loss:
    """A per-example loss l(f, y) given as log l_i, with the matching margin and a reduction.

    ``margins(f, y)`` gives s_i for classification losses and is None for the square loss.
    ``reduction`` is "sum" (L = sum_i l_i) or "mean" (L = (1/n) sum_i l_i). ``log_sum(f, y)``,
    if given, computes log sum_i l_i directly where logsumexp of the log l_i would not do (its
    gradient); None means logsumexp.
    """

    name: str
    log_per_example: Callable[[Array, Array], Array]
    margins: Callable[[Array, Array], Array] | None = None
    reduction: str = "sum"
    log_sum: Callable[[Array, Array], Array] | None = None

    def __post_init__(self):
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"unknown reduction {self.reduction!r}; allowed: "
                             f"{', '.join(REDUCTIONS)}")

    def log_total_and_terms(self, f: Array, y: Array) -> tuple[Array, Array]:
        """(log L, log l_i) from one evaluation of the outputs f.

        log L = log sum_i l_i, minus log n for the mean. The terms are log l_i for either
        reduction: GD only uses their ratios, log(L_new/L_old), which the 1/n does not change.
        """
        terms = self.log_per_example(f, y)
        # Margin losses: exactly logsumexp of the terms, as every recorded run computed it.
        total = logsumexp(terms) if self.log_sum is None else self.log_sum(f, y)
        if self.reduction == "mean":
            total = total - math.log(terms.shape[0])  # a Python float keeps float32 float32
        return total, terms

    def log_total(self, f: Array, y: Array) -> Array:
        """log L: log sum_i l_i, or log((1/n) sum_i l_i) for the mean."""
        return self.log_total_and_terms(f, y)[0]


LOSSES: dict[str, Loss] = {
    "exponential": Loss("exponential", _exponential, binary_margins),
    "logistic": Loss("logistic", _logistic, binary_margins),
    "cross_entropy": Loss("cross_entropy", _cross_entropy, multiclass_margins),
    "square": Loss("square", _square, None, "sum", _square_log_sum),
    "square_mean": Loss("square_mean", _square, None, "mean", _square_log_sum),
    # L = (1/n) sum_i ||f_i - y_i||^2, summed over the outputs (Cisneros-Velarde et al.'s code)
    "mse": Loss("mse", _squared_error, None, "mean", _squared_error_log_sum),
}


def get_loss(name: str) -> Loss:
    """The loss called ``name`` (one of ``LOSSES``)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; allowed: {', '.join(LOSSES)}") from None
