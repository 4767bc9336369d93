"""min-width-bias's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.min_width_bias``."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import field
from ...errors import ConfigError
from ...papers import cite
from ..base import Experiment
from ..blocks import dtype_field


@dataclass(frozen=True)
class Config:
    seed: int = field(0, nonnegative=True, doc="seed of X, Theta and the noise")
    d: int = field(100, positive=True, doc="input dimension D (paper: 500)")
    n: int = field(20, positive=True, doc="samples (paper: 100)")
    widths: tuple[int, ...] = field((200, 400, 800), positive=True, distinct=True,
                                    doc="hidden widths h (paper: 500 to 10 000)")
    n_seeds: int = field(5, positive=True, doc="initializations per width, under vmap")
    noise: float = field(0.01, nonnegative=True, doc="std of the target noise")
    eta: float = field(5e-3, positive=True, doc="GD step on (1/n)||Y - X U V^T||^2")
    stop_loss: float = field(1e-8, positive=True, doc="stop when (1/n)||Y - X U V^T||^2 < this")
    max_steps: int = field(400_000, positive=True, doc="step budget per run")
    dtype: str = dtype_field(choices=("float64",))

    def check(self) -> None:
        if not self.n < self.d:
            raise ConfigError(f"n={self.n} must be below d={self.d} (under-determined)")
        if len(self.widths) < 2:
            raise ConfigError("widths needs at least two widths to fit an exponent")


EXPERIMENT = Experiment(
    name="min-width-bias",
    title="Distance to the min-norm solution against width",
    paper=cite("min", "App. A.3, Theorem 12"),
    config=Config,
    module="wnbias.experiments.min_width_bias",
    presets={"smoke": {"d": "40", "n": "8", "widths": "50,100", "n_seeds": "2",
                       "stop_loss": "1e-4"},
             "full": {"d": "500", "n": "100", "widths": "500,1000,2000,5000,10000"}},
    version=3,
    expected_seconds=35,
)
