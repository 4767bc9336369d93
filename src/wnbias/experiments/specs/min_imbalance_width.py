"""min-imbalance-width's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.min_imbalance_width``."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import field
from ...errors import ConfigError
from ...papers import cite
from ..base import Experiment
from ..blocks import dtype_field


@dataclass(frozen=True)
class Config:
    seed: int = field(0, nonnegative=True, doc="seed of Y, U and V")
    n: int = field(20, positive=True, doc="rows of Y")
    m: int = field(5, positive=True, doc="columns of Y (paper: 5 in the text, 10 in App. A.1)")
    widths: tuple[int, ...] = field((30, 100, 300, 1000), positive=True, distinct=True,
                                    doc="hidden widths h")
    eta: float = field(0.05, positive=True, doc="GD step")
    steps: int = field(15_000, positive=True, doc="GD iterations")
    dtype: str = dtype_field(choices=("float64",))

    def check(self) -> None:
        if min(self.widths) < max(self.n, self.m):
            raise ConfigError(f"widths={self.widths}: the bounds need h >= max(n, m) = "
                              f"{max(self.n, self.m)}")


EXPERIMENT = Experiment(
    name="min-imbalance-width",
    title="Imbalance spectrum, loss and rate bounds against width",
    paper=cite("min", "§5.1 / App. A.1"),
    config=Config,
    module="wnbias.experiments.min_imbalance_width",
    presets={"smoke": {"widths": "30,1000", "steps": "1500"}},
    version=2,
    expected_seconds=40,
)
