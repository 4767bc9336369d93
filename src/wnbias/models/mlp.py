"""Bias-free multilayer perceptrons."""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from jax import Array

from .model import ACTIVATION_DEGREE, ACTIVATIONS, Model


def _degree(names: list[str], frozen: Mapping[str, Array], activation: str) -> int | None:
    """K with f(c w) = c^K f(w) for the trainable layers w, or None if there is none.

    Layer by layer: a trainable layer adds 1 to the degree of its input, an activation of degree
    k multiplies it. An activation without a degree ends homogeneity, unless its input does not
    depend on the trainable weights (degree 0: e.g. a frozen first layer), which it maps to a
    constant again.
    """
    degree = 0
    k = ACTIVATION_DEGREE[activation]
    for i, name in enumerate(names):
        degree += name not in frozen
        if i < len(names) - 1 and degree > 0:
            if k is None:
                return None
            degree *= k
    return degree


def mlp(
    sizes: tuple[int, ...],
    activation: str = "relu",
    frozen: Mapping[int, Array] | None = None,
    scales: tuple[float, ...] | None = None,
) -> Model:
    """Bias-free MLP ``sizes[0] -> ... -> sizes[-1]``, activation after every hidden layer.

    f(x) = W_L sigma(W_{L-1} ... sigma(W_1 x)), or with ``scales`` = (c_1, ..., c_L) each layer's
    pre-activation multiplied by its constant, a_l = sigma(c_l W_l a_{l-1}) and f = c_L W_L a_{L-1}
    (Cisneros-Velarde et al.'s c/sqrt(m) inside every hidden layer). Layers are named
    ``layer1 .. layerL``; layer l has ``sizes[l]`` neurons of dimension ``sizes[l-1]``. A
    scalar output layer is therefore a single neuron whose incoming vector is the whole hidden
    layer, as in the EWN paper.
    ``frozen`` maps a layer index (1-based) to a fixed neuron-major weight array that is not
    trained (XOR: the output fixed to +-1).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}")
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"mlp sizes must be >= 2 positive integers, got {sizes}")
    frozen = {f"layer{i}": jnp.asarray(w) for i, w in (frozen or {}).items()}
    names = [f"layer{i}" for i in range(1, len(sizes))]
    shapes = {
        name: (sizes[i + 1], sizes[i]) for i, name in enumerate(names) if name not in frozen
    }
    sigma = ACTIVATIONS[activation]
    if scales is not None and len(scales) != len(names):
        raise ValueError(f"mlp scales: {len(scales)} given for {len(names)} layers")
    factors = tuple(float(c) for c in scales) if scales is not None else (1.0,) * len(names)

    def apply(weights: Mapping[str, Array], x: Array) -> Array:
        h = x
        for i, name in enumerate(names):
            w = frozen[name] if name in frozen else weights[name]
            h = h @ w.T if factors[i] == 1.0 else factors[i] * (h @ w.T)
            if i < len(names) - 1:
                h = sigma(h)
        return h[:, 0] if sizes[-1] == 1 else h

    degree = _degree(names, frozen, activation)
    scaled = "" if scales is None else f"-scaled{factors}"
    return Model(f"mlp{sizes}-{activation}{scaled}", shapes, apply, degree, frozen)
