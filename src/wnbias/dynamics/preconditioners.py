"""The normalized flows written in unnormalized coordinates (PAPERS.md §1.4).

With ||v_u|| = 1 (which the flow conserves), gradient flow in a normalized parameterization
moves w_u = decode(theta_u) like a preconditioned flow dw_u/dt = -P_u grad_u L:

- EWN: P_u = ||w_u||^2 I, i.e. unnormalized gradient flow with a per-neuron learning rate
  ||w_u(t)||^2 (Morwani & Ramaswamy's equivalence theorem);
- SWN: P_u = w^_u w^_u^T + ||w_u||^2 (I - w^_u w^_u^T): radial rate 1, tangential ||w_u||^2.

Both act on plain parameters ``{layer: {"w": (n_neurons, fan_in)}}`` and a gradient of the
same shape, for ``run_flow(..., preconditioner=...)``.
"""

from __future__ import annotations

import jax.numpy as jnp


def _per_layer(theta, grad, rule):
    return {layer: {"w": rule(theta[layer]["w"], grad[layer]["w"])} for layer in theta}


def ewn_rate(theta, grad):
    """P g_u = ||w_u||^2 g_u."""
    return _per_layer(theta, grad, lambda w, g: jnp.sum(w**2, axis=-1, keepdims=True) * g)


def swn_rate(theta, grad):
    """P g_u = <w^_u, g_u> w^_u + ||w_u||^2 (g_u - <w^_u, g_u> w^_u)."""

    def rule(w, g):
        sq = jnp.sum(w**2, axis=-1, keepdims=True)
        radial = jnp.sum(w * g, axis=-1, keepdims=True) / sq * w
        return radial + sq * (g - radial)

    return _per_layer(theta, grad, rule)
