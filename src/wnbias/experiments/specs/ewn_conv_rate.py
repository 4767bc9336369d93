"""ewn-conv-rate's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.ewn_conv_rate``."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import field
from ...errors import ConfigError
from ...papers import cite
from ..base import Experiment
from ..blocks import EWN_ARMS, FlowSolver, dtype_field, flow_solver, init_field, init_from_field

DIRECTIONS = ("solved", "unit")


@dataclass(frozen=True)
class Config:
    seed: int = field(6782, doc="seed of the data and w_init (the authors' draws) and the layers")
    init: str = init_field("jax", doc="layers 1..L-1: jax.random draws, or torch: nn.Linear's "
                           "default under torch.manual_seed(seed) per depth (a reconstruction: "
                           "which torch seed each depth used is not known)")
    init_from: str = init_from_field("; one seed, the path may contain {depth}")
    last_layer_direction: str = field(
        "solved", choices=DIRECTIONS, doc="SWN/EWN last layer: v = the pseudo-inverse "
        "solution (the authors', ||v|| != 1) or unit v")
    depths: tuple[int, ...] = field((1, 2, 3, 4), positive=True, distinct=True,
                                    doc="network depths")
    width: int = field(100, positive=True, doc="hidden width")
    flip_labels: int = field(0, nonnegative=True, doc="flip this many non-support labels")
    parameterizations: tuple[str, ...] = field(
        ("plain", "swn", "ewn"), choices=EWN_ARMS, doc="GD runs"
    )
    lr: float = field(0.001, positive=True, doc="constant GD learning rate")
    epochs: int = field(5000, positive=True, doc="GD epochs; the final loss is epoch "
                        "`epochs`'s pre-step loss, after epochs - 1 steps (the authors' 'final')")
    flow_parameterizations: tuple[str, ...] = field(
        ("plain", "ewn"), choices=EWN_ARMS, doc="gradient-flow runs for the rate fit"
    )
    flow_target_log_loss: float = field(-300.0, doc="integrate the flow to this log-loss")
    fit_window: tuple[float, ...] = field(
        (0.5, 1.0), nonnegative=True, doc="fit window, as fractions of the log t range"
    )
    flow: FlowSolver = flow_solver()
    dtype: str = dtype_field()

    def check(self) -> None:
        if self.width < 2 and max(self.depths) > 1:
            raise ConfigError(f"width={self.width}: depths > 1 need width >= 2 to start every "
                              "depth at the same end-to-end vector")
        if len(self.fit_window) != 2 or not 0 <= self.fit_window[0] < self.fit_window[1] <= 1:
            raise ConfigError(
                f"fit_window={self.fit_window} must be two fractions 0 <= lo < hi <= 1")
        if not self.flow_target_log_loss < 0:
            raise ConfigError(f"flow_target_log_loss={self.flow_target_log_loss} must be negative")
        if self.epochs < 2:
            raise ConfigError(f"epochs={self.epochs} must be >= 2 (the final loss is after "
                              "epochs - 1 steps)")
        if self.init_from:  # a bad file is a config error, before any run directory exists
            from ..ewn_conv_rate import _initial_thetas  # JAX, to read the file

            for depth in self.depths:
                _initial_thetas(self, depth, None)


EXPERIMENT = Experiment(
    name="ewn-conv-rate",
    title="Depth-independent loss rate of EWN",
    paper=cite("morwani", "E1.4 (conv_rate) and the rate theorem"),
    config=Config,
    module="wnbias.experiments.ewn_conv_rate",
    presets={"smoke": {"depths": "1,2", "width": "10", "epochs": "300",
                       "flow_target_log_loss": "-80"}},
    expected_seconds=60,
)
