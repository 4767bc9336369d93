"""Normalized margin of a homogeneous model."""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from jax import Array

from ..losses import Loss
from ..models import Model


def total_norm(weights: Mapping[str, Array]) -> Array:
    """||w||: the Euclidean norm of all trainable weights together."""
    return jnp.sqrt(sum(jnp.sum(w**2) for w in weights.values()))


def normalized_margin(
    model: Model, loss: Loss, weights: Mapping[str, Array], x: Array, y: Array
) -> Array:
    """min_i s_i / ||w||^K with s_i the loss's margin and K the model's homogeneity degree.

    Scale-invariant for a K-homogeneous model; it increases and converges under GD/flow on
    exponential-tailed losses (Lyu & Li; Morwani & Ramaswamy's ``param_margin``). Raises
    ValueError for a model without a degree (``Model.degree is None``) or a loss without margins.
    """
    if model.degree is None:
        raise ValueError(
            f"normalized_margin needs a homogeneous model: {model.name} has no homogeneity "
            "degree K (its activation is not positively homogeneous), so min_i s_i/||w||^K "
            "is undefined")
    if loss.margins is None:
        raise ValueError(f"normalized_margin needs a margin loss; {loss.name!r} has no margins")
    margins = loss.margins(model.apply(weights, x), y)
    return jnp.min(margins) / total_norm(weights) ** model.degree
