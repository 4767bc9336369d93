"""ewn-equivalence's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.ewn_equivalence``."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import field
from ...errors import ConfigError
from ...papers import cite
from ..base import Experiment
from ..blocks import FlowSolver, dtype_field, flow_solver


@dataclass(frozen=True)
class Config:
    seed: int = field(0, doc="random seed of data and initial weights")
    dim: int = field(3, positive=True, doc="input dimension")
    width: int = field(6, positive=True, doc="hidden neurons")
    n_points: int = field(8, positive=True, doc="training points")
    t_end: float = field(3.0, positive=True, doc="horizon T of the flow")
    flow: FlowSolver = flow_solver(rtol=1e-10, atol=1e-12)
    gd_steps: tuple[float, ...] = field(
        (0.01, 0.005, 0.0025, 0.00125), positive=True, distinct=True,
        doc="GD step sizes compared with the flow",
    )
    dtype: str = dtype_field(choices=("float64",))
    init_from: str = field("", doc="start from the unnormalized weights in this .npz (keys "
                           "layer1, layer2; one seed) instead of random ones; every "
                           "parameterization is encoded from them with unit v, as the theorem "
                           "assumes")

    def check(self) -> None:
        if len(self.gd_steps) < 2:
            raise ConfigError("gd_steps needs at least two step sizes to fit an order")
        for eta in self.gd_steps:
            steps = self.t_end / eta
            if steps < 1 or abs(steps - round(steps)) > 1e-9 * steps:
                raise ConfigError(f"gd_steps: t_end={self.t_end:g} must be a whole number (>= 1) "
                                  f"of steps {eta:g}")
        if self.init_from:  # a bad file is a config error, before any run directory exists
            from ..ewn_equivalence import _initial_weights, _model  # JAX, to read the file

            _initial_weights(self, _model(self), None)


EXPERIMENT = Experiment(
    name="ewn-equivalence",
    title="EWN flow = adaptive-rate unnormalized flow; GD -> flow",
    paper=cite("morwani", "equivalence theorem"),
    config=Config,
    module="wnbias.experiments.ewn_equivalence",
    presets={"smoke": {"t_end": "1.0", "gd_steps": "0.004,0.002,0.001"}},
    expected_seconds=25,
)
