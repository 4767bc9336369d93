"""Per-neuron weight parameterizations (Morwani & Ramaswamy, PAPERS.md §1.2).

A layer's weights are stored neuron-major, shape ``(n_neurons, fan_in)``: row ``u`` is the
incoming weight vector ``w_u`` of neuron ``u``. Each parameterization maps its own parameters
``theta_u`` to ``w_u``:

- ``plain``: ``w_u`` itself.
- ``swn`` (standard weight normalization): ``w_u = g_u v_u / ||v_u||``.
- ``ewn`` (exponential weight normalization): ``w_u = exp(a_u) v_u / ||v_u||``.

``encode`` converts an unnormalized layer so that the function is unchanged at init:
``||v_u|| = 1``, ``g_u = ||w_u||``, ``a_u = log ||w_u||``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax.numpy as jnp
from jax import Array


def _row_norms(v: Array) -> Array:
    return jnp.linalg.norm(v, axis=-1)


@dataclass(frozen=True)
class Plain:
    """The unnormalized weights: theta = {"w": w}."""

    name: str = "plain"

    def encode(self, w: Array) -> dict[str, Array]:
        return {"w": w}

    def decode(self, theta: Mapping[str, Array]) -> Array:
        return theta["w"]


@dataclass(frozen=True)
class StandardWN:
    """SWN, w_u = g_u v_u/||v_u||: theta = {"g": (n,), "v": (n, d)}."""

    name: str = "swn"

    def encode(self, w: Array) -> dict[str, Array]:
        norms = _row_norms(w)
        return {"g": norms, "v": w / norms[:, None]}

    def decode(self, theta: Mapping[str, Array]) -> Array:
        v = theta["v"]
        return (theta["g"] / _row_norms(v))[:, None] * v


@dataclass(frozen=True)
class ExponentialWN:
    """EWN, w_u = exp(a_u) v_u/||v_u||: theta = {"a": (n,), "v": (n, d)}."""

    name: str = "ewn"

    def encode(self, w: Array) -> dict[str, Array]:
        norms = _row_norms(w)
        return {"a": jnp.log(norms), "v": w / norms[:, None]}

    def decode(self, theta: Mapping[str, Array]) -> Array:
        v = theta["v"]
        return (jnp.exp(theta["a"]) / _row_norms(v))[:, None] * v


Reparam = Plain | StandardWN | ExponentialWN

REPARAMS: dict[str, Reparam] = {r.name: r for r in (Plain(), StandardWN(), ExponentialWN())}


def get_reparam(name: str) -> Reparam:
    """The parameterization called ``name`` (one of ``REPARAMS``)."""
    try:
        return REPARAMS[name]
    except KeyError:
        raise ValueError(
            f"unknown parameterization {name!r}; allowed: {', '.join(REPARAMS)}"
        ) from None


def encode(weights: Mapping[str, Array], reparam: Reparam) -> dict[str, dict[str, Array]]:
    """Encode every layer of ``weights`` with the same parameterization."""
    return {layer: reparam.encode(w) for layer, w in weights.items()}


def decode(theta: Mapping[str, Mapping[str, Array]], reparam: Reparam) -> dict[str, Array]:
    """Inverse of :func:`encode`: the unnormalized weights of every layer."""
    return {layer: reparam.decode(t) for layer, t in theta.items()}
