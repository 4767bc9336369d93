"""Run directories: named by a hash of the resolved config, written atomically, reused.

A finished run directory holds ``config.json``, the outcome (``trajectory.npz``: every run's
:class:`~wnbias.dynamics.trajectory.Trajectory`; ``outcome.json``: metrics, details, notes and
the experiment's version), the initial parameters, the figures as PNG, ``report.md``,
``env.json`` and, written last, ``summary.json`` (``metrics``, ``claims``). A directory without
``summary.json`` is unfinished and is never reused. A run stopped by a non-finite loss keeps
``trajectory.npz`` up to that point and writes ``failure.json`` instead. Every file is written
to a temporary name in the same directory and renamed into place, so an interrupted run never
leaves a half-written file under a final name. This module is the only one that knows how a
trajectory is laid out on disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SUMMARY = "summary.json"
OUTCOME = "outcome.json"
TRAJECTORY = "trajectory.npz"
CONFIG = "config.json"
# every file name a run writes besides its figures and initial parameters (listed in the summary)
RUN_FILES = (CONFIG, "env.json", OUTCOME, TRAJECTORY, "report.md", "failure.json", SUMMARY)
STALE_SECONDS = 600  # a temporary file this old belongs to a killed write, not a running one
_PNG = b"\x89PNG\r\n\x1a\n"
_SEP = "::"  # between a run's name, a part and a key: names and keys may contain "/"


def config_hash(experiment: str, config: Mapping[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the experiment name and its resolved config."""
    text = json.dumps({"experiment": experiment, "config": config}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_dir_for(root: Path, experiment: str, config: Mapping[str, Any]) -> Path:
    return Path(root) / f"{experiment}-{config_hash(experiment, config)}"


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_jsonable) + "\n").encode())


def write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buffer.getvalue())


FIGURE_DPI = 120


def write_figure(path: Path, figure) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    atomic_write_bytes(path, buffer.getvalue())


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def read_summary(run_dir: Path) -> dict | None:
    """The summary of a finished run, or None if the directory holds no finished run: no
    summary, or one that is unreadable, not UTF-8, not JSON or of the wrong shape (then the run
    counts as unfinished and is computed again)."""
    try:
        summary = json.loads((Path(run_dir) / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    shape = {"config_hash": str, "claims": list, "figures": list}
    if not isinstance(summary, dict) or not all(isinstance(summary.get(k), t)
                                                for k, t in shape.items()):
        return None
    return summary


def is_complete(run_dir: Path, summary: Mapping[str, Any]) -> bool:
    """Whether a finished run still holds what it wrote: a readable outcome (outcome.json, an
    intact trajectory.npz), report.md and every figure as a PNG. A run missing any of them is
    not reused."""
    run_dir = Path(run_dir)
    figures = [run_dir / f"{stem}.png" for stem in summary["figures"]]
    try:
        json.loads((run_dir / OUTCOME).read_text(encoding="utf-8"))
        with zipfile.ZipFile(run_dir / TRAJECTORY) as archive:
            if archive.testzip() is not None:
                return False
        if not (run_dir / "report.md").is_file():
            return False
        for path in figures:
            with open(path, "rb") as f:
                if f.read(len(_PNG)) != _PNG:
                    return False
    except (OSError, ValueError, zipfile.BadZipFile):
        return False
    return True


def held_run(run_dir: Path) -> tuple[str, dict] | None:
    """(experiment, config) of the run a directory holds, from its config.json; None when it
    holds none."""
    try:
        config = json.loads((Path(run_dir) / CONFIG).read_text(encoding="utf-8"))
        return config.pop("experiment"), config
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return None


def run_files(run_dir: Path) -> list[Path]:
    """The files the run in ``run_dir`` wrote (its summary's list, else the fixed names and the
    figures it names), those that exist: what ``--force`` removes, never anything else."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir) or {}
    names = summary.get("files") or [*RUN_FILES, *(f"{f}.png" for f in summary.get("figures", []))]
    return [run_dir / n for n in names if isinstance(n, str) and (run_dir / n).is_file()]


def remove_stale_temporaries(run_dir: Path, age: float = STALE_SECONDS) -> None:
    """Remove ``.NAME.XXXX.tmp`` files of killed writes (older than ``age`` seconds, so that a
    second process writing into the same directory keeps its own)."""
    now = time.time()
    for path in Path(run_dir).glob(".*.tmp"):
        try:
            if now - path.stat().st_mtime > age:
                path.unlink()
        except OSError:
            pass


def environment() -> dict[str, str]:
    """Versions and platform, for ``env.json``."""
    import jax
    import matplotlib
    import scipy

    from . import __version__

    return {
        "wnbias": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "matplotlib": matplotlib.__version__,
    }


def write_trajectories(path: Path, trajectories: Mapping[str, Any]) -> None:
    """Every run's trajectory in one ``.npz``: ``NAME::series::KEY``, ``NAME::length``,
    ``NAME::status``, ``NAME::counts::KEY`` and ``NAME::message``."""
    arrays = {}
    for name, t in trajectories.items():
        arrays.update({f"{name}{_SEP}series{_SEP}{k}": v for k, v in t.series.items()})
        arrays.update({f"{name}{_SEP}counts{_SEP}{k}": v for k, v in t.counts.items()})
        arrays[f"{name}{_SEP}length"] = t.length
        arrays[f"{name}{_SEP}status"] = np.asarray(t.status, np.int64)
        arrays[f"{name}{_SEP}message"] = np.asarray(t.message)
    write_npz(path, arrays)


def read_trajectories(path: Path) -> dict:
    """The inverse of :func:`write_trajectories`."""
    from .dynamics.trajectory import Trajectory

    parts: dict[str, dict] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            name, part, *rest = key.split(_SEP)
            entry = parts.setdefault(name, {"series": {}, "counts": {}})
            if rest:
                entry[part][rest[0]] = data[key]
            else:
                entry[part] = data[key]
    return {name: Trajectory(series=e["series"], length=e["length"], status=e["status"],
                             counts=e["counts"], message=str(e["message"]))
            for name, e in parts.items()}


def write_outcome(run_dir: Path, outcome, version: int) -> None:
    """The outcome of a run: its trajectories, then metrics, details and notes."""
    write_trajectories(Path(run_dir) / TRAJECTORY, outcome.trajectories)
    write_json(Path(run_dir) / OUTCOME, {"version": version, "metrics": outcome.metrics,
                                         "details": outcome.details, "notes": outcome.notes})


def read_outcome(run_dir: Path):
    """``(outcome, version)`` as stored, or None when the directory holds none."""
    from .experiments.base import Outcome

    run_dir = Path(run_dir)
    try:
        stored = json.loads((run_dir / OUTCOME).read_text())
        trajectories = read_trajectories(run_dir / TRAJECTORY)
    except (OSError, ValueError, KeyError):
        return None
    outcome = Outcome(metrics=stored["metrics"], trajectories=trajectories,
                      details=stored["details"], notes=stored["notes"])
    return outcome, stored["version"]
