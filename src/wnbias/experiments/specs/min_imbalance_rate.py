"""min-imbalance-rate's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.min_imbalance_rate``."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import field
from ...errors import ConfigError
from ...papers import cite
from ..base import Experiment
from ..blocks import dtype_field


@dataclass(frozen=True)
class Config:
    seed: int = field(0, nonnegative=True, doc="seed of X, Theta, the noise and U0, V0")
    d: int = field(200, positive=True, doc="input dimension D (paper: 500)")
    n: int = field(40, positive=True, doc="samples (paper: 100)")
    width: int = field(200, positive=True, doc="hidden width h (paper: 500)")
    scales: tuple[float, ...] = field((0.1, 0.1, 0.5, 0.02, 0.05, 0.2), positive=True,
                                      doc="(sigma_U, sigma_V) of cases 1-3, flattened")
    noise: float = field(0.01, nonnegative=True, doc="std of the target noise")
    eta: float = field(5e-4, positive=True, doc="GD step on (1/n)||Y - X U V^T||^2")
    steps: int = field(15_000, positive=True, doc="GD iterations")
    dtype: str = dtype_field(choices=("float64",))

    def check(self) -> None:
        if len(self.scales) != 6:
            raise ConfigError(f"scales needs 6 values (sigma_U, sigma_V per case), got "
                              f"{len(self.scales)}")
        if not self.n < self.d:
            raise ConfigError(f"n={self.n} must be below d={self.d} (under-determined)")
        if self.width < self.n:
            raise ConfigError(f"width={self.width} must be >= rank X = n={self.n} for the bounds")


EXPERIMENT = Experiment(
    name="min-imbalance-rate",
    title="Convergence speed against imbalance at a fixed end-to-end map",
    paper=cite("min", "§5.2 / App. A.2"),
    config=Config,
    module="wnbias.experiments.min_imbalance_rate",
    presets={"smoke": {"d": "60", "n": "12", "width": "60", "steps": "2000"},
             "full": {"d": "500", "n": "100", "width": "500"}},
    version=2,
    expected_seconds=15,
)
