"""wnbias: the inductive bias of gradient descent under weight normalization."""

import jax

__version__ = "0.1.0"

# Asymptotic experiments need float64 (losses to e^-300, norm ratios over many decades). JAX
# only creates float64 arrays with x64 enabled; float32 stays available through each config's
# ``dtype``.
jax.config.update("jax_enable_x64", True)

from .dynamics.flow import LogLossClock, TimeClock, run_flow  # noqa: E402
from .dynamics.gd import log_spaced_steps, run_gd  # noqa: E402
from .dynamics.schedules import (  # noqa: E402
    StepRule,
    backtracking,
    by_label,
    constant,
    constant_by_label,
    loss_adaptive,
    relative_rate_cap,
)
from .dynamics.sgd import run_sgd  # noqa: E402
from .dynamics.trajectory import Run, Status, Trajectory  # noqa: E402
from .initial import (  # noqa: E402
    load_initial_parameters,
    save_initial_parameters,
    seeded_weights,
    torch_linear_weights,
)
from .losses import LOSSES, Loss, get_loss, log_softplus  # noqa: E402
from .models import Model, coordinate_linear, deep_linear, matrix_factorization, mlp  # noqa: E402
from .objective import Objective, from_terms, make_log_loss  # noqa: E402
from .reparam import (  # noqa: E402
    REPARAMS,
    ExponentialWN,
    Normalized,
    Plain,
    Polar,
    ProjectedWN,
    StandardWN,
    decode,
    encode,
    get_reparam,
    retract,
)

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
