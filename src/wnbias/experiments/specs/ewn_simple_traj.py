"""ewn-simple-traj's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.ewn_simple_traj``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import field
from ...errors import ConfigError
from ...papers import cite
from ..base import Experiment
from ..blocks import EWN_ARMS, ArmSchedule, EWNSchedule, dtype_field, ewn_schedule


@dataclass(frozen=True)
class Config:
    seed: int = field(2137, doc="random seed (this experiment draws no random numbers)")
    point: tuple[float, ...] = field((2.0, 1.0), doc="the single training point x (label +1)")
    inits: str = field("1,1;3,1;1,3;5,1;1,5", doc="initial weights w0, ';'-separated tuples")
    parameterizations: tuple[str, ...] = field(
        ("plain", "swn", "ewn"), choices=EWN_ARMS, doc="parameterizations to compare"
    )
    gd: EWNSchedule = ewn_schedule(20_000, plain=ArmSchedule(), swn=ArmSchedule(),
                                   ewn=ArmSchedule())
    target_log_loss: float = field(-50.0, doc="stop at this log-loss")
    dtype: str = dtype_field()

    def check(self) -> None:
        if not any(self.point):
            raise ConfigError(f"point={self.point} must be non-zero")
        initial = -(parse_inits(self.inits, len(self.point)) @ np.asarray(self.point))
        if np.any(initial <= self.target_log_loss):
            raise ConfigError(f"target_log_loss={self.target_log_loss:g} must be below every "
                              f"init's initial log-loss {initial.round(3).tolist()}")


def parse_inits(text: str, dim: int) -> np.ndarray:
    """'1,1;3,1' -> [[1, 1], [3, 1]], each of length ``dim`` and with no zero coordinate."""
    try:
        rows = [[float(v) for v in part.split(",")] for part in text.split(";") if part.strip()]
    except ValueError:
        raise ConfigError(f"inits={text!r} must be ';'-separated tuples of numbers") from None
    if not rows:
        raise ConfigError(f"inits={text!r}: give at least one init")
    if any(len(r) != dim for r in rows):  # either side may be the wrong one: name both
        sizes = sorted({len(r) for r in rows})
        raise ConfigError(f"inits={text!r} has inits of {'/'.join(map(str, sizes))} "
                          f"coordinates but point has {dim}: give point and every init the "
                          "same dimension")
    inits = np.array(rows)
    if np.any(inits == 0) or not np.all(np.isfinite(inits)):
        raise ConfigError(f"inits={text!r}: coordinates must be finite and non-zero")
    return inits


EXPERIMENT = Experiment(
    name="ewn-simple-traj",
    title="EWN vs unnormalized trajectories on one point",
    paper=cite("morwani", "E1.2 (simple-traj)"),
    config=Config,
    module="wnbias.experiments.ewn_simple_traj",
    presets={"smoke": {"inits": "1,1;1,3", "target_log_loss": "-10"}},
    expected_seconds=5,
)
