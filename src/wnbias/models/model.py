"""The :class:`Model`: a network as a pure function of its weights, and the activations.

Every trainable layer is a neuron-major array ``(n_neurons, fan_in)`` (see ``reparam``). A frozen
layer is a constant of the model, so gradients and norms only ever see trainable weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "relu2": lambda z: jax.nn.relu(z) ** 2,
    "linear": lambda z: z,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
    "gelu": jax.nn.gelu,
}
# Positive-homogeneity degree of each activation: sigma(c z) = c^k sigma(z) for c > 0. None: not
# positively homogeneous (tanh, softplus), so a net using it on trainable inputs has no degree.
ACTIVATION_DEGREE: dict[str, int | None] = {
    "relu": 1, "relu2": 2, "linear": 1, "tanh": None, "softplus": None,
    "gelu": None,
}
# Activations with a continuous second derivative: a Hessian experiment warns on the others.
SMOOTH_ACTIVATIONS = ("linear", "tanh", "softplus", "gelu")


@dataclass(frozen=True)
class Model:
    """A network f(weights, x) with its trainable layer shapes.

    ``apply(weights, x)`` maps a batch ``x`` of shape ``(n, d)`` to outputs ``(n,)`` (scalar
    models) or ``(n, k)``. ``degree`` is the homogeneity degree K in the trainable weights,
    f(c w, x) = c^K f(w, x) for c > 0, used by the normalized margin min_i y_i f(x_i)/||w||^K;
    None when f is not homogeneous (a tanh net).
    """

    name: str
    layer_shapes: Mapping[str, tuple[int, int]]
    apply: Callable[[Mapping[str, Array], Array], Array]
    degree: int | None = None
    frozen: Mapping[str, Array] = field(default_factory=dict)

    def init(self, key: Array, scheme: str = "torch_default", dtype=jnp.float64) -> dict:
        """Random weights for every trainable layer.

        ``torch_default``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's ``nn.Linear`` default,
        which the EWN paper's lin-sep, XOR and conv_rate scripts use. ``kaiming_normal``:
        N(0, 2/fan_in), used by its MNIST/CIFAR scripts.
        """
        keys = jax.random.split(key, len(self.layer_shapes))
        weights = {}
        for k, (layer, (n, d)) in zip(keys, self.layer_shapes.items(), strict=True):
            if scheme == "torch_default":
                bound = 1.0 / np.sqrt(d)
                weights[layer] = jax.random.uniform(k, (n, d), dtype, -bound, bound)
            elif scheme == "kaiming_normal":
                weights[layer] = jax.random.normal(k, (n, d), dtype) * np.sqrt(2.0 / d)
            else:
                raise ValueError(f"unknown init {scheme!r}; allowed: torch_default, kaiming_normal")
        return weights
