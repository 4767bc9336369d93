"""The training objective: model + parameterization + loss, as one pure function."""

from __future__ import annotations

from collections.abc import Callable

from jax import Array

from .losses import Loss
from .nets import Model
from .reparam import Reparam, decode


def make_log_loss(model: Model, reparam: Reparam, loss: Loss) -> Callable[..., Array]:
    """``log_loss(theta, x, y) = log L(decode(theta))``, with L the summed loss over the batch."""

    def log_loss(theta, x: Array, y: Array) -> Array:
        return loss.log_total(model.apply(decode(theta, reparam), x), y)

    return log_loss
