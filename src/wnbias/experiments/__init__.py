"""The registry of experiments, one module each."""

from __future__ import annotations

from ..errors import UserError
from . import (
    chou_dln_robust,
    cisneros_hessian,
    ewn_conv_rate,
    ewn_equivalence,
    ewn_lin_sep,
    ewn_simple_traj,
    ewn_xor,
    min_imbalance_rate,
    min_imbalance_width,
    min_width_bias,
    wu_wn_least_squares,
)
from .base import Claim, Experiment, Outcome, Problem

_MODULES = (ewn_simple_traj, ewn_xor, ewn_lin_sep, ewn_conv_rate, ewn_equivalence,
            min_imbalance_width, min_imbalance_rate, min_width_bias, wu_wn_least_squares,
            chou_dln_robust, cisneros_hessian)
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
