"""Models as pure functions of their weights, with neuron groups and homogeneity degree.

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
}
# Positive-homogeneity degree of each activation: sigma(c z) = c^k sigma(z) for c > 0.
ACTIVATION_DEGREE = {"relu": 1, "relu2": 2, "linear": 1}


@dataclass(frozen=True)
class Model:
    """A network f(weights, x) with its trainable layer shapes.

    ``apply(weights, x)`` maps a batch ``x`` of shape ``(n, d)`` to outputs ``(n,)`` (scalar
    models) or ``(n, k)``. ``degree`` is the homogeneity degree K in the trainable weights:
    f(c w, x) = c^K f(w, x), used by the normalized margin min_i y_i f(x_i)/||w||^K.
    """

    name: str
    layer_shapes: Mapping[str, tuple[int, int]]
    apply: Callable[[Mapping[str, Array], Array], Array]
    degree: int
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


def mlp(
    sizes: tuple[int, ...],
    activation: str = "relu",
    frozen: Mapping[int, Array] | None = None,
) -> Model:
    """Bias-free MLP ``sizes[0] -> ... -> sizes[-1]``, activation after every hidden layer.

    Layers are named ``layer1 .. layerL``; layer l has ``sizes[l]`` neurons of dimension
    ``sizes[l-1]``. A scalar output layer is therefore a single neuron whose incoming vector is
    the whole hidden layer, as in the EWN paper. ``frozen`` maps a layer index (1-based) to a fixed
    neuron-major weight array that is not trained (XOR: the output fixed to +-1).
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

    def apply(weights: Mapping[str, Array], x: Array) -> Array:
        h = x
        for i, name in enumerate(names):
            w = frozen[name] if name in frozen else weights[name]
            h = h @ w.T
            if i < len(names) - 1:
                h = sigma(h)
        return h[:, 0] if sizes[-1] == 1 else h

    degree = 0
    for i, name in enumerate(names):
        degree += name not in frozen
        if i < len(names) - 1:
            degree *= ACTIVATION_DEGREE[activation]
    return Model(f"mlp{sizes}-{activation}", shapes, apply, degree, frozen)


def coordinate_linear(dim: int) -> Model:
    """f(w, x) = <w, x> with every coordinate its own 1-d neuron (EWN paper's simple-traj).

    Weights: ``{"w": (dim, 1)}``. Under EWN each coordinate is w_i = exp(a_i) sign(v_i).
    """

    def apply(weights: Mapping[str, Array], x: Array) -> Array:
        return x @ weights["w"][:, 0]

    return Model(f"coordinate-linear{dim}", {"w": (dim, 1)}, apply, degree=1)
