"""Several experiments at once, each in a process of its own (``wnbias reproduce --jobs N``).

A run of a small experiment is mostly compilation and Python, both on one core: on 2 cores,
two experiments side by side take the time of the longer one. Each worker is a fresh
(``spawn``) process with the parent's environment, so it uses the same compilation cache and
program store (both safe to share: entries are written atomically) and runs the experiment
exactly as ``wnbias run`` would: the same programs, the same numbers. Progress shows one line
per finished phase, as in a log file: two processes cannot share a terminal's bars.

The runs start longest first (by each experiment's ``expected_seconds``), so that on a few
cores the last to finish is not a long run started late; records come back in the order
asked, whatever order the runs finish in. When a run fails, the
runs not yet started are dropped, those already running finish (their run directories are
kept, and reused next time), and the first failure in order is raised.
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def run_experiments(runs: Sequence[tuple[str, str | None]], *, jobs: int, root: Path,
                    force: bool, progress: bool) -> Iterator:
    """The :class:`~wnbias.runner.RunRecord` of each ``(name, preset)`` in ``runs``, in order,
    with at most ``jobs`` of them running at once (``jobs`` 1: in this process)."""
    if jobs <= 1 or len(runs) <= 1:
        from .runner import run_experiment

        for name, preset in runs:
            yield run_experiment(name, preset=preset, root=root, force=force,
                                 progress=progress)
        return
    from .experiments import get_experiment

    context = multiprocessing.get_context("spawn")  # no JAX state is ever forked
    longest_first = sorted(range(len(runs)),
                           key=lambda i: -get_experiment(runs[i][0]).expected_seconds)
    with ProcessPoolExecutor(max_workers=min(jobs, len(runs)), mp_context=context,
                             initializer=_start_worker) as pool:
        started = {i: pool.submit(_run_one, *runs[i], root, force, progress)
                   for i in longest_first}
        futures = [started[i] for i in range(len(runs))]
        try:
            for future in futures:
                yield future.result()
        finally:  # a failure (or a reader that stops early): start nothing more
            for future in futures:
                future.cancel()


def _start_worker() -> None:
    from . import progress as progress_lines
    from .cli import _one_line_warning

    warnings.showwarning = _one_line_warning
    progress_lines.use_bars(False)


def _run_one(name: str, preset: str | None, root: Path, force: bool, progress: bool):
    # imported here, in the worker: the parent never loads the runner (matplotlib, 0.5 s)
    from .runner import run_experiment

    return run_experiment(name, preset=preset, root=root, force=force, progress=progress)
