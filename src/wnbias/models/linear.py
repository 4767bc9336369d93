"""Linear models: one linear map (coordinate-wise neurons) and deep linear networks."""

from __future__ import annotations

from collections.abc import Mapping

from jax import Array

from .mlp import mlp
from .model import Model


def coordinate_linear(dim: int) -> Model:
    """f(w, x) = <w, x> with every coordinate its own 1-d neuron (EWN paper's simple-traj).

    Weights: ``{"w": (dim, 1)}``. Under EWN each coordinate is w_i = exp(a_i) sign(v_i).
    """

    def apply(weights: Mapping[str, Array], x: Array) -> Array:
        return x @ weights["w"][:, 0]

    return Model(f"coordinate-linear{dim}", {"w": (dim, 1)}, apply, degree=1)


def deep_linear(sizes: tuple[int, ...]) -> Model:
    """Bias-free deep linear network f(x) = W_L ... W_1 x, homogeneous of degree L.

    The same model as ``mlp(sizes, "linear")`` (layers ``layer1 .. layerL``), under its own name.
    """
    return mlp(sizes, "linear")
