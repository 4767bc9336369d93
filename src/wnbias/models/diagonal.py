"""Diagonal linear networks (Woodworth et al. 2020; Chou, Maly & Rauhut 2023; Chou, Rauhut & Ward).

The vector x is a product of factors, coordinate by coordinate, and the model predicts A x for a
measurement matrix A (M x N, the model's input):

- ``difference`` (default): x = u^L - v^L (elementwise powers, depth L >= 2);
- ``product``: x = u * v (elementwise; no sign trick, so x_i has the sign of u_i v_i).

Two layouts of the same weights, for the two readings of "polar coordinates" (PAPERS.md §2.6):

- ``reading="pair"``: one layer ``pairs`` of N neurons in R^2, row i = (u_i, v_i). Under the
  ``polar`` parameterization (u_i, v_i) = r_i (cos phi_i, sin phi_i): the per-coordinate-pair
  reading, the library's default WN model for Chou et al.
- ``reading="vector"``: layers ``u`` and ``v``, each one neuron in R^N. Under ``swn``
  u = r theta, v = s phi with theta, phi on the unit sphere: the per-factor-vector reading.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from jax import Array

from .model import Model

READINGS = ("pair", "vector")
FORMS = ("difference", "product")


def factors(weights: Mapping[str, Array]) -> tuple[Array, Array]:
    """(u, v), each (N,), from either layout."""
    if "pairs" in weights:
        return weights["pairs"][..., 0], weights["pairs"][..., 1]
    return weights["u"][..., 0, :], weights["v"][..., 0, :]


def diagonal_vector(weights: Mapping[str, Array], depth: int = 2,
                    form: str = "difference") -> Array:
    """x = u^L - v^L (``difference``) or u * v (``product``) from either layout."""
    u, v = factors(weights)
    return u * v if form == "product" else u**depth - v**depth


def diagonal_linear(n: int, depth: int = 2, reading: str = "pair",
                    form: str = "difference") -> Model:
    """The diagonal linear network f(A) = A x(u, v) with x in R^n (see the module docstring).

    Homogeneous of degree L in (u, v) (2 for the product form)."""
    if reading not in READINGS:
        raise ValueError(f"unknown reading {reading!r}; allowed: {', '.join(READINGS)}")
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; allowed: {', '.join(FORMS)}")
    if n < 1 or depth < 2:
        raise ValueError(f"a diagonal network needs n >= 1 and depth >= 2, got n={n}, "
                         f"depth={depth}")
    shapes = {"pairs": (n, 2)} if reading == "pair" else {"u": (1, n), "v": (1, n)}

    def apply(weights: Mapping[str, Array], a: Array) -> Array:
        return a @ diagonal_vector(weights, depth, form)

    degree = 2 if form == "product" else depth
    name = f"diagonal-{form}{n}-depth{depth}-{reading}"
    return Model(name, shapes, apply, degree)


def alpha_init(n: int, alpha: float, reading: str = "pair", dtype=jnp.float64) -> dict:
    """u(0) = v(0) = alpha 1 in the given layout (x(0) = 0 for the difference form)."""
    if reading == "pair":
        return {"pairs": jnp.full((n, 2), alpha, dtype)}
    return {"u": jnp.full((1, n), alpha, dtype), "v": jnp.full((1, n), alpha, dtype)}
