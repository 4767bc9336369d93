"""One result type for every training loop: a :class:`Trajectory` with a seed axis.

GD (``run_gd``) and gradient flow (``run_flow``) both return a :class:`Run`: the final
parameters and a trajectory whose every series has shape ``(seeds, slots, ...)``, slot j of seed
s being valid for ``j < length[s]``, a :class:`Status` per seed and the work done per seed
(``counts``: GD steps and attempts, or solver steps and function evaluations). How a trajectory
is laid out on disk is the store's business (``wnbias.store``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np


class Status(IntEnum):
    """Why a seed stopped; shared by GD and gradient flow."""

    RUNNING = 0  # still going (never in a finished result)
    TARGET = 1  # reached the target log-loss (or the flow's horizon)
    BUDGET = 2  # GD: max_steps accepted steps
    NONFINITE = 3  # the loss became NaN or infinite (the last finite state is kept)
    LR_UNDERFLOW = 4  # GD: a backtracking rate fell below 1e-300
    STALLED = 5  # GD: too many attempts in a row without a lower loss
    TIME_BUDGET = 6  # flow in the log-loss clock: t passed t_max
    SOLVER_FAILURE = 7  # flow: the ODE solver gave up, or its clock drifted


STATUS_NAMES = tuple(s.name.lower() for s in Status)


@dataclass(frozen=True)
class Trajectory:
    """Recorded series of a batch of seeds, with their valid lengths, statuses and work."""

    series: Mapping[str, np.ndarray]
    length: np.ndarray
    status: np.ndarray
    counts: Mapping[str, np.ndarray] = field(default_factory=dict)
    message: str = ""

    @property
    def n_seeds(self) -> int:
        return len(self.length)

    def valid(self, key: str, seed: int = 0) -> np.ndarray:
        """The recorded part of ``series[key]`` for one seed."""
        return self.series[key][seed, : self.length[seed]]

    def final(self, key: str) -> np.ndarray:
        """The last recorded value of ``series[key]`` for every seed, ``(seeds, ...)``."""
        values = self.series[key]
        return values[np.arange(self.n_seeds), np.maximum(self.length - 1, 0)]

    def status_names(self) -> list[str]:
        return [STATUS_NAMES[s] for s in self.status]

    def finished(self) -> np.ndarray:
        """Which seeds reached their target."""
        return np.asarray(self.status) == Status.TARGET


@dataclass(frozen=True)
class Run:
    """A training loop's result: the final parameters (leading seed axis) and the trajectory."""

    theta: Any
    trajectory: Trajectory

    @property
    def log_loss(self) -> np.ndarray:
        """The final log-loss of every seed."""
        return self.trajectory.final("log_loss")
