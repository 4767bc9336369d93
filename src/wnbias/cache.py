"""Compiled programs kept across processes: JAX's persistent compilation cache, per user.

Compiling is most of a short run's wait (a run of ``ewn-simple-traj`` compiles for seconds and
trains for milliseconds). The CLI turns JAX's persistent cache on in ``$WNBIAS_CACHE_DIR``, else
``$XDG_CACHE_HOME/wnbias/jax`` or ``~/.cache/wnbias/jax``; ``WNBIAS_CACHE_DIR=off`` turns it off.
Entries are keyed by the compiled program, its compile options and the JAX/XLA version, never
by a run's results, so nothing cached can go stale; JAX writes each entry atomically, so two
processes may share the directory. Every program is kept, however fast it compiles
(``MIN_COMPILE_SECONDS`` = 0): the hundreds of small ones an experiment compiles add up (the
five EWN experiments' warm reproduce: 36.0 s keeping only those over 0.2 s, 29.9 s keeping all).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MIN_COMPILE_SECONDS = 0.0


def cache_dir() -> Path | None:
    """The directory the cache lives in, or None when ``WNBIAS_CACHE_DIR=off``."""
    value = os.environ.get("WNBIAS_CACHE_DIR", "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wnbias" / "jax"


def enable_compilation_cache() -> Path | None:
    """Turn JAX's persistent compilation cache on in :func:`cache_dir` (before the first
    compilation of the process); returns the directory, or None when it is off or cannot be
    created (then every program is compiled as before).

    Imports no JAX: if JAX is not imported yet, this sets the environment variables it reads
    when it is (``JAX_COMPILATION_CACHE_DIR``, ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``),
    so that a command which fails on its config never loads it; else it updates JAX's config.
    """
    path = cache_dir()
    if path is None:  # off: also for JAX in a child process that inherited the variable
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if "jax" in sys.modules:
        jax = sys.modules["jax"]
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    else:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(path)
        os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = str(MIN_COMPILE_SECONDS)
    return path
