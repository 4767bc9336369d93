"""What an experiment is: a config, presets, and four functions from set-up to figures.

- ``setup(config) -> Problem``: data, objectives and initial parameters per run (benchmarks,
  tests and ``init_from`` use it);
- ``run(config, problem, progress) -> Outcome``: numbers only (flat metrics, one
  :class:`~wnbias.dynamics.trajectory.Trajectory` per run, details);
- ``claims(config, outcome) -> [Claim]`` and ``figures(config, outcome) -> {stem: figure}``:
  read only what the store holds, so ``wnbias report RUN_DIR`` re-judges and redraws a finished
  run without training.

``version`` names the layout of the outcome: a stored run of another version is not re-judged.

An :class:`Experiment` is built by its spec, ``experiments/specs/<name>.py`` (name, paper,
config, presets), which imports no JAX; the four functions live in the implementation module it
names (``module``, e.g. ``wnbias.experiments.ewn_xor``), imported on first use. So a config is
resolved and checked, and ``wnbias list`` runs, before JAX, diffrax, scipy or matplotlib load.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..dynamics.trajectory import Trajectory  # NumPy only


@dataclass(frozen=True)
class Claim:
    """One statement of a paper, checked against the run.

    ``paper`` is the paper's statement or number, ``measured`` the value computed here,
    ``holds`` whether the measurement supports the paper's point, and ``criterion`` the test
    that decides it (the threshold, and what a user can change), which the report prints
    beside a claim that fails.
    """

    name: str
    paper: str
    measured: str
    holds: bool
    criterion: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "paper": self.paper, "measured": self.measured,
                "holds": bool(self.holds), "criterion": self.criterion}


@dataclass
class Problem:
    """What ``setup`` builds: ``data`` (arrays), ``objectives`` and ``initial`` parameters per
    run name (an arm such as ``ewn``, or ``ewn/depth2``), with a leading seed axis, and
    ``extra`` for what else the run needs."""

    data: Any
    objectives: dict[str, Any]
    initial: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What ``run`` returns and the store keeps: JSON ``metrics``, a trajectory per run name,
    JSON ``details`` the claims and figures need beyond the metrics, report ``notes``, and the
    ``initial`` parameters to write as ``STEM.npz`` (``{stem: {arm: theta}}``)."""

    metrics: dict[str, Any]
    trajectories: dict[str, Trajectory]
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    initial: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment (see the module docstring): ``setup``, ``run``, ``claims`` and
    ``figures`` are those of the implementation module ``module`` (its dotted name), which the
    first access to one of them imports."""

    name: str
    title: str
    paper: str
    config: type
    module: str  # the implementation module, e.g. "wnbias.experiments.ewn_xor"
    presets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    version: int = 1
    headline: bool = True
    reproduce_preset: str | None = None  # the preset ``reproduce`` runs (None: the defaults)
    # about how long that run takes on 2 cores with nothing compiled yet: ``reproduce --jobs``
    # starts the longest first, so the last to finish is not a long one started late
    expected_seconds: float = 10.0

    def _function(self, name: str) -> Callable:
        return getattr(importlib.import_module(self.module), name)

    @property
    def setup(self) -> Callable[[Any], Problem]:
        return self._function("setup")

    @property
    def run(self) -> Callable[[Any, Problem, bool], Outcome]:
        return self._function("run")

    @property
    def claims(self) -> Callable[[Any, Outcome], list[Claim]]:
        return self._function("claims")

    @property
    def figures(self) -> Callable[[Any, Outcome], dict[str, Any]]:
        return self._function("figures")

    def execute(self, config, progress: bool = False) -> Outcome:
        """``run(config, setup(config))``: the whole computation, without the store."""
        return self.run(config, self.setup(config), progress)
