"""The training objective: model + parameterization + loss, as one pure function."""

from __future__ import annotations

from collections.abc import Callable

from jax import Array
from jax.scipy.special import logsumexp

from .losses import Loss
from .nets import Model
from .reparam import Reparam, decode


class LogLoss:
    """``log L(theta, *data) = logsumexp_i log l_i``, with the per-example terms at hand.

    ``terms(theta, *data)`` returns the vector of log l_i. GD compares a new loss with the old
    one through these terms (``log(L_new / L_old)`` from shifted terms), which resolves relative
    changes that the rounded totals cannot: in float32 near log-loss -300 the total's spacing
    is about 3e-5. Instances hash by identity, so compiled code is reused per objective.
    """

    def __init__(self, terms: Callable[..., Array]):
        self.terms = terms

    def __call__(self, theta, *data) -> Array:
        return logsumexp(self.terms(theta, *data))


def make_log_loss(model: Model, reparam: Reparam, loss: Loss) -> LogLoss:
    """``log_loss(theta, x, y) = log L(decode(theta))``, with L the summed loss over the batch."""

    def terms(theta, x: Array, y: Array) -> Array:
        return loss.log_per_example(model.apply(decode(theta, reparam), x), y)

    return LogLoss(terms)
