"""What an experiment is: a config class, a ``run`` function, and the result it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Claim:
    """One statement of a paper, checked against the run.

    ``paper`` is the paper's statement or number, ``measured`` the value computed here, and
    ``holds`` whether the measurement supports the paper's point.
    """

    name: str
    paper: str
    measured: str
    holds: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "paper": self.paper, "measured": self.measured,
                "holds": bool(self.holds)}


@dataclass
class Result:
    """What a run returns: scalar metrics, claims, trajectory arrays and figures.

    ``figures`` maps a file stem to a matplotlib figure; ``notes`` are sentences for the report
    (for instance which parts of the setup are reconstructions); ``initial`` maps a file stem to
    the run's initial parameters ``{arm: {layer: {param: (seeds, ...)}}}``, written so that
    ``init_from=RUN_DIR/STEM.npz`` starts a new run from them.
    """

    metrics: dict[str, Any]
    claims: list[Claim]
    trajectory: dict[str, np.ndarray]
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    initial: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment. ``run(config, progress)`` returns a :class:`Result`."""

    name: str
    title: str
    paper: str
    config: type
    run: Callable[[Any, bool], Result]
    headline: bool = True
