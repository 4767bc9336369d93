"""ewn-xor's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.ewn_xor``."""

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
    dtype_field,
    ewn_schedule,
    init_field,
    init_from_field,
)

MAX_SEEDS = 4096


@dataclass(frozen=True)
class Config:
    seed: int = field(9156, doc="random seed of the initial weights (the authors': 9156)")
    n_seeds: int = field(8, positive=True, doc="independent initializations run under vmap "
                         "(with init_from: the file's)")
    init: str = init_field("torch")
    init_from: str = init_from_field()
    width: int = field(20, positive=True, doc="hidden neurons (even: half +1, half -1 outputs)")
    parameterizations: tuple[str, ...] = field(
        ("plain", "swn", "ewn"), choices=EWN_ARMS, doc="parameterizations to compare"
    )
    gd: EWNSchedule = ewn_schedule(100_000, plain=ArmSchedule(frac=15.0),
                                   swn=ArmSchedule(frac=15.0, lr_limit=1.0),
                                   ewn=ArmSchedule(frac=5.0))
    target_log_loss: float = field(-50.0, doc="stop at this log-loss")
    dominance_threshold: float = field(
        0.1, positive=True, doc="a neuron dominates if its norm is >= this times the largest"
    )
    dtype: str = dtype_field()

    def check(self) -> None:
        if self.width < 2 or self.width % 2:
            raise ConfigError(f"width={self.width} must be even and >= 2 (half +1, half -1)")
        if self.dominance_threshold > 1:
            raise ConfigError(f"dominance_threshold={self.dominance_threshold} must be <= 1")
        if self.n_seeds > MAX_SEEDS:
            raise ConfigError(f"n_seeds={self.n_seeds} is too many; allowed: 1 to {MAX_SEEDS}")
        if not self.target_log_loss < 0:
            raise ConfigError(f"target_log_loss={self.target_log_loss} must be negative")
        if self.init_from:  # a bad file is a config error, before any run directory exists
            from ..common import initial_parameters  # JAX, to read the file
            from ..ewn_xor import _model

            initial_parameters(self, _model(self, self.dtype), self.parameterizations)


EXPERIMENT = Experiment(
    name="ewn-xor",
    title="Relative sparsity of EWN on XOR",
    paper=cite("morwani", "E1.3 (XOR)"),
    config=Config,
    module="wnbias.experiments.ewn_xor",
    presets={"smoke": {"n_seeds": "2", "target_log_loss": "-8"}},
    expected_seconds=10,
)
