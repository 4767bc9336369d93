"""Per-neuron weight parameterizations (PAPERS.md §1.2, §2.6, §3.5, §5.2, §6).

A layer's weights are stored neuron-major, shape ``(n_neurons, ...)`` of rank >= 2: ``w[u]`` is
the incoming weight ``w_u`` of neuron ``u``, a row ``(fan_in,)`` of a dense layer or a filter
``(in_ch, k, k)`` of a conv layer. Norms ``||w_u||`` run over every axis but the neuron axis 0,
and per-neuron scalars (``g``, ``a``, ``r``, ``phi``) have shape ``(n_neurons,)``. Each
parameterization maps its own parameters ``theta_u`` to ``w_u``:

- ``plain``: ``w_u`` itself.
- ``swn`` (standard weight normalization, Salimans & Kingma 2016):
  ``w_u = g_u v_u / ||v_u||``.
- ``ewn`` (exponential weight normalization, Morwani & Ramaswamy, ALT 2022):
  ``w_u = exp(a_u) v_u / ||v_u||``.
- ``normalized`` (normalization without a gain, the hidden layers of Cisneros-Velarde, Chen,
  Koyejo & Banerjee, TMLR 2025): ``w_u = v_u / ||v_u||``.
- ``polar`` (polar WN of a diagonal linear network, Chou, Rauhut & Ward 2024): a neuron is a
  pair ``(u_i, v_i) = r_i (cos phi_i, sin phi_i)``, so ``w`` is ``(n, 2)``.
- ``rpgd`` (reparameterized projected GD, Wu et al., NeurIPS 2020): ``w_u = g_u v_u / ||v_u||``
  as in ``swn``, with ``v_u`` projected back onto the unit sphere after every step.

``encode`` converts an unnormalized layer so that the function is unchanged at init:
``||v_u|| = 1``, ``g_u = ||w_u||``, ``a_u = log ||w_u||``, ``r_u = ||w_u||``,
``phi_u = atan2(w_u2, w_u1)``; ``normalized`` keeps ``v_u = w_u``, so it preserves the function
only for unit-norm ``w_u``.

``retract(theta)`` maps parameters to equivalent ones on the parameterization's constraint
set; the GD engine calls it after each accepted step. It is the identity for all but ``rpgd``,
where it renormalizes ``v_u`` (``decode`` is unchanged by it).

A *spec* (:data:`Spec`) is either one parameterization for every layer or a mapping
``{layer: parameterization}`` naming every layer; ``plain`` leaves a layer (a bias, an output
layer) unnormalized.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import jax.numpy as jnp
from jax import Array


def _neuron_norms(v: Array) -> Array:
    """``||v_u||`` over every axis but the neuron axis 0: shape ``(n,)``."""
    if v.ndim < 2:
        raise ValueError(f"weights must be neuron-major of rank >= 2, got shape {v.shape}")
    # Flattening the non-neuron axes makes a 2-d layer bitwise the same as a row norm.
    return jnp.linalg.norm(v.reshape(v.shape[0], -1), axis=1)


def _per_neuron(s: Array, v: Array) -> Array:
    """The per-neuron scalars ``s`` ``(n,)`` shaped ``(n, 1, ..., 1)`` to broadcast over ``v``."""
    return s.reshape(s.shape + (1,) * (v.ndim - 1))


@dataclass(frozen=True)
class Plain:
    """The unnormalized weights: theta = {"w": w}."""

    name: str = "plain"

    def encode(self, w: Array) -> dict[str, Array]:
        return {"w": w}

    def decode(self, theta: Mapping[str, Array]) -> Array:
        return theta["w"]

    def retract(self, theta: Mapping[str, Array]) -> dict[str, Array]:
        return dict(theta)


@dataclass(frozen=True)
class StandardWN:
    """SWN, w_u = g_u v_u/||v_u||: theta = {"g": (n,), "v": (n, ...)}."""

    name: str = "swn"

    def encode(self, w: Array) -> dict[str, Array]:
        norms = _neuron_norms(w)
        return {"g": norms, "v": w / _per_neuron(norms, w)}

    def decode(self, theta: Mapping[str, Array]) -> Array:
        v = theta["v"]
        return _per_neuron(theta["g"] / _neuron_norms(v), v) * v

    def retract(self, theta: Mapping[str, Array]) -> dict[str, Array]:
        return dict(theta)


@dataclass(frozen=True)
class ExponentialWN:
    """EWN, w_u = exp(a_u) v_u/||v_u||: theta = {"a": (n,), "v": (n, ...)}."""

    name: str = "ewn"

    def encode(self, w: Array) -> dict[str, Array]:
        norms = _neuron_norms(w)
        return {"a": jnp.log(norms), "v": w / _per_neuron(norms, w)}

    def decode(self, theta: Mapping[str, Array]) -> Array:
        v = theta["v"]
        return _per_neuron(jnp.exp(theta["a"]) / _neuron_norms(v), v) * v

    def retract(self, theta: Mapping[str, Array]) -> dict[str, Array]:
        return dict(theta)


@dataclass(frozen=True)
class Normalized:
    """Normalization without a gain, w_u = v_u/||v_u||: theta = {"v": (n, ...)}.

    ``encode(w) = {"v": w}``, so ``decode`` gives ``w_u/||w_u||``: the function is preserved
    exactly only when every ``w_u`` is unit-norm.
    """

    name: str = "normalized"

    def encode(self, w: Array) -> dict[str, Array]:
        return {"v": w}

    def decode(self, theta: Mapping[str, Array]) -> Array:
        v = theta["v"]
        return v / _per_neuron(_neuron_norms(v), v)

    def retract(self, theta: Mapping[str, Array]) -> dict[str, Array]:
        return dict(theta)


@dataclass(frozen=True)
class Polar:
    """Polar WN of 2-d neurons, w_u = r_u (cos phi_u, sin phi_u): theta = {"r": (n,), "phi": (n,)}.

    Each neuron is a pair ``(u_i, v_i)`` of a diagonal linear network (Chou, Rauhut & Ward), so
    the weights must have shape ``(n, 2)``.
    """

    name: str = "polar"

    def encode(self, w: Array) -> dict[str, Array]:
        if w.ndim != 2 or w.shape[1] != 2:
            raise ValueError(f"polar needs weights of shape (n, 2), got {w.shape}")
        return {"r": _neuron_norms(w), "phi": jnp.arctan2(w[:, 1], w[:, 0])}

    def decode(self, theta: Mapping[str, Array]) -> Array:
        r, phi = theta["r"], theta["phi"]
        return jnp.stack([r * jnp.cos(phi), r * jnp.sin(phi)], axis=1)

    def retract(self, theta: Mapping[str, Array]) -> dict[str, Array]:
        return dict(theta)


@dataclass(frozen=True)
class ProjectedWN:
    """rPGD (Wu et al. 2020), w_u = g_u v_u/||v_u||: theta = {"g": (n,), "v": (n, ...)}.

    The same map as SWN; ``retract`` projects ``v_u <- v_u/||v_u||`` after each GD step.
    """

    name: str = "rpgd"

    def encode(self, w: Array) -> dict[str, Array]:
        return StandardWN().encode(w)

    def decode(self, theta: Mapping[str, Array]) -> Array:
        return StandardWN().decode(theta)

    def retract(self, theta: Mapping[str, Array]) -> dict[str, Array]:
        v = theta["v"]
        return {**theta, "v": v / _per_neuron(_neuron_norms(v), v)}


Reparam = Plain | StandardWN | ExponentialWN | Normalized | Polar | ProjectedWN

Spec = Reparam | Mapping[str, Reparam]
"""One parameterization for every layer, or ``{layer: parameterization}`` naming every layer."""

REPARAMS: dict[str, Reparam] = {
    r.name: r
    for r in (Plain(), StandardWN(), ExponentialWN(), Normalized(), Polar(), ProjectedWN())
}


def get_reparam(name: str) -> Reparam:
    """The parameterization called ``name`` (one of ``REPARAMS``)."""
    try:
        return REPARAMS[name]
    except KeyError:
        raise ValueError(
            f"unknown parameterization {name!r}; allowed: {', '.join(REPARAMS)}"
        ) from None


def resolve_spec(spec: Spec, layers: Iterable[str]) -> dict[str, Reparam]:
    """``{layer: parameterization}`` for ``layers``; a mapping must name exactly these layers."""
    layers = list(layers)
    if not isinstance(spec, Mapping):
        return {layer: spec for layer in layers}
    missing = [layer for layer in layers if layer not in spec]
    extra = [layer for layer in spec if layer not in layers]
    if missing or extra:
        raise ValueError(
            f"parameterization spec must name every layer: missing {missing}, extra {extra}; "
            f"layers given: {', '.join(layers)}"
        )
    return {layer: spec[layer] for layer in layers}


def encode(weights: Mapping[str, Array], spec: Spec) -> dict[str, dict[str, Array]]:
    """Encode every layer of ``weights`` with its parameterization in ``spec``."""
    reparams = resolve_spec(spec, weights)
    return {layer: reparams[layer].encode(w) for layer, w in weights.items()}


def decode(theta: Mapping[str, Mapping[str, Array]], spec: Spec) -> dict[str, Array]:
    """Inverse of :func:`encode`: the unnormalized weights of every layer."""
    reparams = resolve_spec(spec, theta)
    return {layer: reparams[layer].decode(t) for layer, t in theta.items()}


def retract(
    theta: Mapping[str, Mapping[str, Array]], spec: Spec
) -> dict[str, dict[str, Array]]:
    """Every layer's parameters retracted by its parameterization (see the module docstring)."""
    reparams = resolve_spec(spec, theta)
    return {layer: reparams[layer].retract(t) for layer, t in theta.items()}
