"""Linear models: one linear map (coordinate-wise neurons), deep linear networks and matrix
factorization."""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
from jax import Array

from .model import Model


def coordinate_linear(dim: int) -> Model:
    """f(w, x) = <w, x> with every coordinate its own 1-d neuron (EWN paper's simple-traj).

    Weights: ``{"w": (dim, 1)}``. Under EWN each coordinate is w_i = exp(a_i) sign(v_i).
    """

    def apply(weights: Mapping[str, Array], x: Array) -> Array:
        return x @ weights["w"][:, 0]

    return Model(f"coordinate-linear{dim}", {"w": (dim, 1)}, apply, degree=1)


def _chain(sizes: tuple[int, ...], scale: float, name: str) -> Model:
    """f(x) = scale W_L ... W_1 x, contracted in the cheapest order (``multi_dot``): for the
    linear networks of Min et al. (m = 1, n < D) the end-to-end map W_L ... W_1 first costs
    O(D h) per step instead of the layer-by-layer O(n D h). Layers ``layer1 .. layerL``,
    neuron-major as in :func:`~wnbias.models.mlp`."""
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"linear network sizes must be >= 2 positive integers, got {sizes}")
    names = [f"layer{i}" for i in range(1, len(sizes))]
    shapes = {name: (sizes[i + 1], sizes[i]) for i, name in enumerate(names)}

    def apply(weights: Mapping[str, Array], x: Array) -> Array:
        out = jnp.linalg.multi_dot([x] + [weights[k].T for k in names]) if len(names) > 1 \
            else x @ weights[names[0]].T
        out = out * scale if scale != 1.0 else out
        return out[:, 0] if sizes[-1] == 1 else out

    return Model(name, shapes, apply, degree=len(names))


def deep_linear(sizes: tuple[int, ...]) -> Model:
    """Bias-free deep linear network f(x) = W_L ... W_1 x, homogeneous of degree L.

    The same function as ``mlp(sizes, "linear")`` (layers ``layer1 .. layerL``), evaluated in
    the cheapest contraction order.
    """
    return _chain(tuple(sizes), 1.0, f"deep-linear{tuple(sizes)}")


def matrix_factorization(n: int, h: int, m: int) -> Model:
    """Min et al.'s matrix factorization Y ~ U V^T / sqrt(m h) (arXiv 2105.06351, §5.1): U (n x h)
    is ``layer1`` transposed, V (m x h) is ``layer2``, and the input is the identity I_n (row i
    of the prediction is row i of U V^T / sqrt(m h)). As regression it is X = I_n / sqrt(m h),
    so lambda_r(Sigma_x) = 1/(m h), which is how the measures of
    :mod:`wnbias.measure.linear_networks` see it.
    """
    return _chain((n, h, m), 1.0 / float(np.sqrt(m * h)), f"matrix-factorization({n},{h},{m})")
