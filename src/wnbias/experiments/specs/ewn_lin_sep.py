"""ewn-lin-sep's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.ewn_lin_sep``."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import field
from ...errors import ConfigError
from ...papers import cite
from ..base import Experiment
from ..blocks import (
    EWN_ARMS,
    ArmSchedule,
    EWNSchedule,
    FlowSolver,
    dtype_field,
    ewn_schedule,
    flow_solver,
    init_field,
    init_from_field,
)

LIN_SEP_RATE = ArmSchedule(frac=30.0, lr_limit=0.01)  # every arm (PAPERS.md §1.6)


@dataclass(frozen=True)
class Config:
    seed: int = field(2137, doc="seed of the data (the authors' draws) and the initial weights")
    init: str = init_field("torch")
    init_from: str = init_from_field("; one seed")
    width: int = field(8, positive=True, doc="hidden neurons")
    parameterizations: tuple[str, ...] = field(
        ("swn", "ewn"), choices=EWN_ARMS, doc="parameterizations to compare"
    )
    dynamics: str = field("gd", choices=("gd", "flow"), doc="the authors' GD, or gradient flow")
    gd: EWNSchedule = ewn_schedule(40_000, plain=LIN_SEP_RATE, swn=LIN_SEP_RATE,
                                   ewn=LIN_SEP_RATE)
    flow: FlowSolver = flow_solver()
    target_log_loss: float = field(-300.0, doc="stop at this log-loss")
    scatter_log_losses: tuple[float, ...] = field(
        (-200.0, -250.0, -300.0), distinct=True,
        doc="log-losses of the log||grad|| vs log||w|| scatter",
    )
    dominance_threshold: float = field(
        0.25, positive=True, doc="non-vanishing neuron: norm >= this times the largest, and"
    )
    vanishing_exponent: float = field(
        -0.15, doc="... relative norm decaying slower than (-log L)^this over the late phase"
    )
    dtype: str = dtype_field()

    def check(self) -> None:
        if not self.target_log_loss < 0:
            raise ConfigError(f"target_log_loss={self.target_log_loss} must be negative")
        if self.dominance_threshold > 1:
            raise ConfigError(f"dominance_threshold={self.dominance_threshold} must be <= 1")
        outside = [v for v in self.scatter_log_losses if not self.target_log_loss <= v < 0]
        if outside:
            raise ConfigError(f"scatter_log_losses {outside} must lie in "
                              f"[target_log_loss, 0) = [{self.target_log_loss:g}, 0)")
        if self.init_from:  # a bad file is a config error, before any run directory exists
            from ..common import initial_parameters  # JAX, to read the file
            from ..ewn_lin_sep import _model

            _, n_seeds = initial_parameters(self, _model(self), self.parameterizations)
            if n_seeds != 1:
                raise ConfigError(f"init_from={self.init_from} holds {n_seeds} seeds; "
                                  "ewn-lin-sep runs one (give arrays without a seed axis)")


EXPERIMENT = Experiment(
    name="ewn-lin-sep",
    title="Asymptotic weight-gradient relations of EWN and SWN",
    paper=cite("morwani", "E1.1 (lin-sep)"),
    config=Config,
    module="wnbias.experiments.ewn_lin_sep",
    presets={"smoke": {"target_log_loss": "-40", "scatter_log_losses": "-30,-35,-40"}},
    expected_seconds=10,
)
