"""Run an experiment into its run directory, reusing a finished run with the same config."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt  # noqa: E402

from . import store  # noqa: E402
from .config import resolve, to_dict  # noqa: E402
from .errors import RunStopped  # noqa: E402
from .experiments import get_experiment  # noqa: E402
from .initial import save_initial_parameters  # noqa: E402
from .report import run_report  # noqa: E402


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """Where a run lives and what it found."""

    experiment: str
    run_dir: Path
    summary: dict[str, Any]
    figures: list[str]
    reused: bool


def _init_file_digests(config: dict) -> dict:
    """SHA-256 of the ``init_from`` file(s), so that a changed file is a new run, not a stale
    reuse (``{depth}`` expands over the config's ``depths``)."""
    pattern = config.get("init_from")
    if not pattern:
        return {}
    paths = sorted({pattern.replace("{depth}", str(d)) for d in config.get("depths", [0])})
    return {"init_from_sha256": [store.file_digest(Path(p)) for p in paths]}


def run_experiment(
    name: str,
    overrides: dict[str, str] | None = None,
    *,
    out: Path | None = None,
    root: Path = Path("runs"),
    force: bool = False,
    progress: bool = False,
) -> RunRecord:
    """Resolve the config, run (or reuse) the experiment, and write its run directory.

    ``out`` is the run directory itself; otherwise it is ``root/<name>-<config hash>``.
    """
    experiment = get_experiment(name)
    config = resolve(experiment.config, overrides)
    config_dict = to_dict(config)
    hashed = {**config_dict, **_init_file_digests(config_dict)}
    digest = store.config_hash(name, hashed)
    run_dir = Path(out) if out is not None else store.run_dir_for(root, name, hashed)

    summary = None if force else store.read_summary(run_dir)
    if summary is not None and summary.get("config_hash") == digest:
        return RunRecord(name, run_dir, summary, summary.get("figures", []), reused=True)

    (run_dir / store.SUMMARY).unlink(missing_ok=True)  # a stale summary must not survive
    store.write_json(run_dir / "config.json", {"experiment": name, **config_dict})
    try:
        result = experiment.run(config, progress)
    except RunStopped as error:
        if error.partial:
            store.write_npz(run_dir / "trajectory.npz", error.partial)
        store.write_json(run_dir / "failure.json", {"error": str(error)})
        raise
    store.write_npz(run_dir / "trajectory.npz", result.trajectory)
    for stem, thetas in result.initial.items():
        save_initial_parameters(run_dir / f"{stem}.npz", thetas)
    for stem, figure in result.figures.items():
        store.write_figure(run_dir / f"{stem}.png", figure)
        plt.close(figure)
    env = {**store.environment(), "dtype": config_dict.get("dtype")}
    store.write_json(run_dir / "env.json", env)
    summary = {
        "experiment": name,
        "config_hash": digest,
        "metrics": result.metrics,
        "claims": [c.to_dict() for c in result.claims],
        "figures": list(result.figures),
        "notes": result.notes,
    }
    store.write_text(run_dir / "report.md", run_report(
        experiment.title, name, experiment.paper, config_dict, summary, list(result.figures),
        result.notes,
    ))
    (run_dir / "failure.json").unlink(missing_ok=True)
    store.write_json(run_dir / store.SUMMARY, summary)
    return RunRecord(name, run_dir, summary, list(result.figures), reused=False)
