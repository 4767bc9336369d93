"""Run an experiment into its run directory, reusing a finished run with the same config.

resolve -> setup -> run -> store -> claims and figures from the stored outcome -> report. The
last step alone is :func:`report_run`, which re-judges and redraws a finished run.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt  # noqa: E402

from . import progress as progress_lines  # noqa: E402
from . import store  # noqa: E402

# figures drawn at the resolution they are saved at: a figure laid out at another one is laid
# out again when saved (0.1-0.2 s of each run's 1-1.3 s of figures)
matplotlib.rcParams["figure.dpi"] = store.FIGURE_DPI
from .config import apply_preset, from_dict, resolve, to_dict  # noqa: E402
from .errors import ConfigError, RunStopped, UserError, WnbiasWarning  # noqa: E402
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
    preset: str | None = None,
    out: Path | None = None,
    root: Path = Path("runs"),
    force: bool = False,
    progress: bool = False,
) -> RunRecord:
    """Resolve the config (``preset`` first, then ``overrides``), run (or reuse) the experiment,
    and write its run directory: ``out`` itself, or ``root/<name>-<config hash>``."""
    experiment = get_experiment(name)
    config = resolve(experiment.config, apply_preset(experiment.presets, preset, overrides))
    config_dict = to_dict(config)
    # the outcome's version is part of the key: a run of older code is never reused
    hashed = {**config_dict, **_init_file_digests(config_dict),
              "outcome_version": experiment.version}
    digest = store.config_hash(name, hashed)
    run_dir = Path(out) if out is not None else store.run_dir_for(root, name, hashed)

    if out is not None:
        _claim_directory(run_dir, name, config_dict, force)
    if run_dir.is_dir():
        store.remove_stale_temporaries(run_dir)
    summary = None if force else store.read_summary(run_dir)
    if (summary is not None and summary["config_hash"] == digest
            and store.is_complete(run_dir, summary)):
        return RunRecord(name, run_dir, summary, summary["figures"], reused=True)

    (run_dir / store.SUMMARY).unlink(missing_ok=True)  # a stale summary must not survive
    store.write_json(run_dir / "config.json", {"experiment": name, **config_dict})
    try:
        outcome = _execute(experiment, config, progress)
    except RunStopped as error:
        if error.partial:
            store.write_trajectories(run_dir / store.TRAJECTORY, error.partial)
        store.write_json(run_dir / "failure.json", {"error": str(error)})
        raise
    store.write_outcome(run_dir, outcome, experiment.version)
    for stem, thetas in outcome.initial.items():
        save_initial_parameters(run_dir / f"{stem}.npz", thetas)
    env = {**store.environment(), "dtype": config_dict.get("dtype")}
    store.write_json(run_dir / "env.json", env)
    (run_dir / "failure.json").unlink(missing_ok=True)
    summary = _judge_and_draw(experiment, config, config_dict, run_dir, digest,
                              [f"{stem}.npz" for stem in outcome.initial])
    return RunRecord(name, run_dir, summary, summary["figures"], reused=False)


def _execute(experiment, config, progress: bool):
    """The experiment's outcome, with each library warning it raised (shown once, as it came)
    among its notes, so that the report keeps what the terminal showed."""
    shown: dict[str, None] = {}
    show = warnings.showwarning

    def note(message, category, *args, **kwargs):
        if not issubclass(category, WnbiasWarning):
            show(message, category, *args, **kwargs)
        elif str(message) not in shown:
            shown[str(message)] = None
            show(message, category, *args, **kwargs)

    with warnings.catch_warnings(), progress_lines.experiment(experiment.name):
        warnings.simplefilter("always", WnbiasWarning)  # also those an earlier run raised
        warnings.showwarning = note
        outcome = experiment.execute(config, progress)
    outcome.notes.extend(f"Warning: {m}" for m in shown
                         if not any(m in n for n in outcome.notes))
    return outcome


def _claim_directory(run_dir: Path, name: str, config_dict: dict, force: bool) -> None:
    """Refuse an ``--out`` that holds something other than this run (another experiment or
    config, or files that are no run at all) unless ``force``; with ``force``, a run of
    another config is removed first, only the files it wrote."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} is a file, not a directory")
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return
    held = store.held_run(run_dir)
    if held == (name, json.loads(json.dumps(config_dict))):  # as config.json stores it
        return  # this very run: reuse it, or finish it
    if held is None:
        if not force:
            entries = sorted(p.name for p in run_dir.iterdir())
            raise UserError(f"--out {run_dir} is not empty and holds no wnbias run ({len(entries)} "
                            f"entries, e.g. {entries[0]}); choose a new or empty directory, or "
                            "--force to write the run's files into it")
        return
    if not force:
        what = "another config of " + name if held[0] == name else f"a run of {held[0]}"
        raise UserError(f"--out {run_dir} holds {what}; choose another --out, or --force to "
                        "replace it (only the files that run wrote are removed)")
    for path in store.run_files(run_dir):
        path.unlink()


def _judge_and_draw(experiment, config, config_dict, run_dir: Path, digest: str,
                    extra_files: list[str]) -> dict:
    """Claims and figures from the stored outcome alone; report.md, then summary.json last."""
    stored = store.read_outcome(run_dir)
    if stored is None:
        raise UserError(f"{run_dir} holds no readable outcome (outcome.json, trajectory.npz)")
    outcome, _ = stored
    claims = experiment.claims(config, outcome)
    figures = experiment.figures(config, outcome)
    for stem, figure in figures.items():
        store.write_figure(run_dir / f"{stem}.png", figure)
        plt.close(figure)
    summary = {
        "experiment": experiment.name,
        "version": experiment.version,
        "config_hash": digest,
        "metrics": outcome.metrics,
        "claims": [c.to_dict() for c in claims],
        "figures": list(figures),
        "notes": outcome.notes,
        # what this run wrote: all that --force removes when another run replaces it
        "files": sorted({*(f for f in store.RUN_FILES if f != "failure.json"),
                         *(f"{stem}.png" for stem in figures), *extra_files}),
    }
    store.write_text(run_dir / "report.md", run_report(
        experiment.title, experiment.name, experiment.paper, config_dict, summary,
        list(figures), outcome.notes,
    ))
    store.write_json(run_dir / store.SUMMARY, summary)
    return summary


def report_run(run_dir: Path) -> RunRecord:
    """Re-judge and redraw the finished run in ``run_dir`` from what it stores, without
    training: its claims, figures, report.md and summary.json are written anew."""
    run_dir = Path(run_dir)
    try:
        stored_config = json.loads((run_dir / "config.json").read_text())
        name = stored_config.pop("experiment")
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        raise UserError(f"{run_dir} is not a wnbias run directory (no readable config.json "
                        "naming its experiment)") from None
    experiment = get_experiment(name)
    stored = store.read_outcome(run_dir)
    if stored is None:
        raise UserError(f"{run_dir} holds an unfinished run of {name} (no stored outcome): "
                        f"run it again with `wnbias run {name}`")
    if stored[1] != experiment.version:
        raise UserError(f"{run_dir} holds version {stored[1]} of {name}'s outcome; this wnbias "
                        f"reads version {experiment.version}: rerun it with --force")
    try:
        config = from_dict(experiment.config, stored_config)
    except (ConfigError, TypeError) as error:
        raise UserError(f"{run_dir} was written by another version of {name} ({error}); "
                        "rerun it with --force") from None
    digest = (store.read_summary(run_dir) or {}).get("config_hash") or store.config_hash(
        name, {**stored_config, **_init_file_digests(stored_config)})
    kept = [f for f in (store.read_summary(run_dir) or {}).get("files", [])
            if f.endswith(".npz") and f != store.TRAJECTORY]  # the initial parameters
    summary = _judge_and_draw(experiment, config, stored_config, run_dir, digest, kept)
    return RunRecord(name, run_dir, summary, summary["figures"], reused=True)
