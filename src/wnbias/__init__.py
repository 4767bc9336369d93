"""wnbias: the inductive bias of gradient descent under weight normalization.

The public names below are imported on first use (PEP 562), so that ``import wnbias`` and the
command line start in milliseconds: JAX, diffrax, scipy and matplotlib load only when a name
that needs them is used (a config error is then reported before they load, and Ctrl-C during
the first seconds stops cleanly).
"""

import os
import sys

from ._lazy import lazy_exports

__version__ = "0.1.0"

# Asymptotic experiments need float64 (losses to e^-300, norm ratios over many decades). JAX
# only creates float64 arrays with x64 enabled; float32 stays available through each config's
# ``dtype``. JAX reads JAX_ENABLE_X64 when it is first imported; if it already is, tell it.
if "jax" in sys.modules:
    sys.modules["jax"].config.update("jax_enable_x64", True)
else:
    os.environ["JAX_ENABLE_X64"] = "1"

# Equinox's runtime checks (``eqx.error_if``, inside every diffrax solve even with throw=False:
# e.g. that the save times are increasing) are host callbacks unless EQX_ON_ERROR=nan, and
# JAX's persistent compilation cache cannot keep a program with host callbacks, so every
# gradient-flow solve would be compiled again in each process. With "nan" a failed check
# turns its value into NaN instead of raising. The flow already solves with throw=False and
# reports a failed solve from its result code (status solver_failure), which this does not
# change. Equinox reads the variable once, when it is imported (a user's own setting wins; it
# has no effect if equinox was imported before wnbias).
os.environ.setdefault("EQX_ON_ERROR", "nan")

_PUBLIC = {
    "ExponentialWN": ".reparam",
    "LOSSES": ".losses",
    "LogLossClock": ".dynamics.flow",
    "Loss": ".losses",
    "Model": ".models",
    "Normalized": ".reparam",
    "Objective": ".objective",
    "Plain": ".reparam",
    "Polar": ".reparam",
    "ProjectedWN": ".reparam",
    "REPARAMS": ".reparam",
    "Run": ".dynamics.trajectory",
    "StandardWN": ".reparam",
    "Status": ".dynamics.trajectory",
    "StepRule": ".dynamics.schedules",
    "TimeClock": ".dynamics.flow",
    "Trajectory": ".dynamics.trajectory",
    "backtracking": ".dynamics.schedules",
    "by_label": ".dynamics.schedules",
    "constant": ".dynamics.schedules",
    "constant_by_label": ".dynamics.schedules",
    "coordinate_linear": ".models",
    "decode": ".reparam",
    "deep_linear": ".models",
    "encode": ".reparam",
    "from_terms": ".objective",
    "get_loss": ".losses",
    "get_reparam": ".reparam",
    "load_initial_parameters": ".initial",
    "log_softplus": ".losses",
    "log_spaced_steps": ".dynamics.gd",
    "loss_adaptive": ".dynamics.schedules",
    "make_log_loss": ".objective",
    "matrix_factorization": ".models",
    "mlp": ".models",
    "relative_rate_cap": ".dynamics.schedules",
    "retract": ".reparam",
    "run_flow": ".dynamics.flow",
    "run_gd": ".dynamics.gd",
    "run_sgd": ".dynamics.sgd",
    "save_initial_parameters": ".initial",
    "seeded_weights": ".initial",
    "torch_linear_weights": ".initial",
}


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)


__all__ = [
    "LOSSES", "LogLossClock", "Loss", "Model", "Normalized", "Objective", "Plain", "Polar",
    "ProjectedWN", "REPARAMS", "ExponentialWN", "Run", "StandardWN", "Status", "StepRule",
    "TimeClock", "Trajectory", "backtracking", "by_label", "constant", "constant_by_label",
    "coordinate_linear",
    "decode", "deep_linear", "encode", "from_terms", "get_loss", "get_reparam",
    "load_initial_parameters", "log_softplus", "log_spaced_steps", "loss_adaptive",
    "make_log_loss", "matrix_factorization", "mlp", "relative_rate_cap", "retract", "run_flow",
    "run_gd", "run_sgd", "save_initial_parameters", "seeded_weights", "torch_linear_weights",
]
