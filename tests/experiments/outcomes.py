"""Run an experiment in memory (setup, run, claims, figures), for the tests."""

from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from wnbias.config import resolve  # noqa: E402


@dataclass
class Judged:
    config: Any
    metrics: dict
    claims: list
    figures: list[str]
    trajectories: dict
    initial: dict


def judged(module, overrides=None) -> Judged:
    """``module.EXPERIMENT`` on a config (or the default with ``overrides``), judged and drawn."""
    experiment = module.EXPERIMENT
    if isinstance(overrides, experiment.config):
        config = overrides
    else:
        config = resolve(experiment.config, overrides or {})
    outcome = experiment.execute(config)
    figures = experiment.figures(config, outcome)
    for figure in figures.values():
        plt.close(figure)
    return Judged(config, outcome.metrics, experiment.claims(config, outcome), list(figures),
                  outcome.trajectories, outcome.initial)
