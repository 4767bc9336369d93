"""Run directories: named by a hash of the resolved config, written atomically, reused.

A finished run directory holds ``config.json``, ``trajectory.npz``, the figures as PNG,
``report.md``, ``env.json`` and, written last, ``summary.json`` (``metrics``, ``claims``). A
directory without ``summary.json`` is unfinished and is never reused. A run stopped by a
non-finite loss keeps ``trajectory.npz`` up to that point and writes ``failure.json`` instead.
Every file is written to a temporary name in the same directory and renamed into place, so an
interrupted run never leaves a half-written file under a final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SUMMARY = "summary.json"


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


def write_figure(path: Path, figure) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    atomic_write_bytes(path, buffer.getvalue())


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def read_summary(run_dir: Path) -> dict | None:
    """The summary of a finished run, or None if the directory holds no finished run."""
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


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
