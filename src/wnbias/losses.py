"""Classification losses evaluated in the log domain (PAPERS.md §1.3).

Each loss gives ``log l_i`` per example; the total loss is the sum L = sum_i l_i and
``log L = logsumexp_i log l_i``. Gradients are taken of ``log L`` (grad L = L grad log L), so
training stays finite and accurate down to log-loss -300 and far beyond, in float64 and float32:
the same effect as the authors' normalized loss L/L_prev, without the bookkeeping.

Binary labels are y in {-1, +1}; multi-class labels are integer classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Loss:
    """A per-example loss l(f, y) given as log l_i, with the matching margin."""

    name: str
    log_per_example: Callable[[Array, Array], Array]
    margins: Callable[[Array, Array], Array]

    def log_total(self, f: Array, y: Array) -> Array:
        """log L = log sum_i l_i."""
        return logsumexp(self.log_per_example(f, y))


LOSSES: dict[str, Loss] = {
    "exponential": Loss("exponential", _exponential, binary_margins),
    "logistic": Loss("logistic", _logistic, binary_margins),
    "cross_entropy": Loss("cross_entropy", _cross_entropy, multiclass_margins),
}


def get_loss(name: str) -> Loss:
    """The loss called ``name`` (one of ``LOSSES``)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; allowed: {', '.join(LOSSES)}") from None
