"""Measures: pure functions of weights, data and trajectories.

- ``neurons.py``, ``margin.py``, ``rates.py``, ``separability.py``: the EWN paper's measures;
- ``linear_networks.py``: Min et al.'s imbalance, bounds and min-norm map;
- ``least_squares.py``: Wu et al.'s invariant, closed-form limit and rate;
- ``exact_flows.py``: the exact flow of a lambda-balanced two-layer linear network
  (:func:`lambda_balanced_flow`), a reference for the engine's flow.
"""

from .exact_flows import lambda_balanced_flow, random_lambda_balanced

__all__ = ["lambda_balanced_flow", "random_lambda_balanced"]
