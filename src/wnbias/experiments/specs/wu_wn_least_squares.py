"""wu-wn-least-squares's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.wu_wn_least_squares``."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import field
from ...errors import ConfigError
from ...papers import cite
from ..base import Experiment
from ..blocks import dtype_field


@dataclass(frozen=True)
class Config:
    seed: int = field(1, nonnegative=True, doc="seed of A, x* and the direction w0")
    n: int = field(10, positive=True, doc="measurements (rows of A)")
    d: int = field(30, positive=True, doc="unknowns (columns of A); d > n")
    g0s: tuple[float, ...] = field((0.1, 1.0, 3.0, 10.0), positive=True, distinct=True,
                                   doc="initial g (x0 = g0 w0 for plain GD)")
    cs: tuple[float, ...] = field((0.1, 1.0, 10.0), positive=True, distinct=True,
                                  doc="rate ratios c = gamma/eta (g's rate over w's)")
    eta: float = field(2e-3, positive=True, doc="GD step of w (and of x for plain GD)")
    target_log_loss: float = field(-30.0, doc="stop at this log-loss (log of ||Ax-y||^2/2)")
    max_steps: int = field(200_000, positive=True, doc="step budget per run")
    dtype: str = dtype_field(choices=("float64",))

    def check(self) -> None:
        if not self.d > self.n:
            raise ConfigError(f"d={self.d} must exceed n={self.n} (under-determined)")


EXPERIMENT = Experiment(
    name="wu-wn-least-squares",
    title="WN and rPGD on under-determined least squares: the min-norm bias and its two regimes",
    paper=cite("wu", "the experiment reconstructed (README: Reconstructions and choices)"),
    config=Config,
    module="wnbias.experiments.wu_wn_least_squares",
    presets={"smoke": {"g0s": "0.1,10", "cs": "0.1,1", "max_steps": "150000"}},
    version=2,
    expected_seconds=30,
)
