"""Per-neuron measures: norms, relative norms, dominance, gradient alignment.

Weights are neuron-major ``{layer: (n_neurons, fan_in)}`` (see ``wnbias.reparam``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
from jax import Array


def neuron_norms(weights: Mapping[str, Array]) -> dict[str, Array]:
    """||w_u|| for every neuron u of every layer."""
    return {layer: jnp.linalg.norm(w, axis=-1) for layer, w in weights.items()}


def relative_neuron_norms(norms: Array) -> Array:
    """||w_u|| / max_v ||w_v|| over the neurons of one layer (last axis)."""
    return norms / jnp.max(norms, axis=-1, keepdims=True)


def count_dominant(norms: Array, threshold: float) -> Array:
    """Number of neurons whose norm is at least ``threshold`` times the layer's largest.

    EWN's relative sparsity (Morwani & Ramaswamy) shows as a small count: on XOR the paper
    finds 4 of 20 neurons at >= 0.78 of the largest and the rest <= 0.15.
    """
    return jnp.sum(relative_neuron_norms(norms) >= threshold, axis=-1)


def neuron_grad_cosines(
    log_loss_of_weights: Callable[[Mapping[str, Array]], Array], weights: Mapping[str, Array]
) -> dict[str, Array]:
    """cos(w_u, grad_{w_u} L) for every neuron; -> -1 for non-vanishing neurons as L -> 0.

    The gradient is that of the unnormalized weights w (whatever the parameterization), taken
    through log L: it has the direction of grad L and stays finite when L underflows.
    """
    grads = jax.grad(log_loss_of_weights)(weights)
    cosines = {}
    for layer, w in weights.items():
        g = grads[layer]
        dot = jnp.sum(w * g, axis=-1)
        cosines[layer] = dot / (jnp.linalg.norm(w, axis=-1) * jnp.linalg.norm(g, axis=-1))
    return cosines
