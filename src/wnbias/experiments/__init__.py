"""The registry of experiments, one module each.

The registry imports only the specs (``experiments/specs/<name>.py``: config, presets, paper),
so that ``import wnbias.experiments`` loads no JAX; ``experiments/<name>.py`` holds the
computation and is imported when a run first needs it (``Experiment.setup`` and the others).
"""

from __future__ import annotations

import importlib

from ..errors import UserError
from .base import Claim, Experiment, Outcome, Problem

# imported by name, so that ``wnbias.experiments.ewn_xor`` stays the implementation module
_SPECS = ("ewn_simple_traj", "ewn_xor", "ewn_lin_sep", "ewn_conv_rate", "ewn_equivalence",
          "min_imbalance_width", "min_imbalance_rate", "min_width_bias", "wu_wn_least_squares",
          "chou_dln_robust", "cisneros_hessian")
_MODULES = tuple(importlib.import_module(f"{__name__}.specs.{name}") for name in _SPECS)
EXPERIMENTS: dict[str, Experiment] = {m.EXPERIMENT.name: m.EXPERIMENT for m in _MODULES}


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; a :class:`UserError` listing the names otherwise."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise UserError(
            f"unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}"
        ) from None


__all__ = ["EXPERIMENTS", "Claim", "Experiment", "Outcome", "Problem", "get_experiment"]
