"""Progress on stderr, named by what runs: a live bar on a terminal, one line per finished phase.

A phase is one engine call (a GD run of one arm, a flow solve, an SGD run) labelled by the
experiment that runs it (set by the runner with :func:`experiment`) and by the run
(``ewn-xor ewn: GD``). On a terminal it shows a bar with no total (the step budget is a bound,
not a forecast, so no ETA is made up) and the current log-loss; in a log file (stderr not a
terminal) there is no bar, only the line each finished phase prints:
``ewn-xor ewn: GD, 2785 steps, log-loss -50.0 (0.4 s)``.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time

from tqdm import tqdm

_EXPERIMENT: contextvars.ContextVar[str] = contextvars.ContextVar("experiment", default="")
_BARS = [True]  # False in a worker process beside others (wnbias.workers): lines only


def use_bars(on: bool) -> None:
    """Whether a terminal gets live bars (else only the line of each finished phase)."""
    _BARS[0] = on


@contextlib.contextmanager
def without_bars():
    """Only the line of each finished phase inside (phases side by side in threads)."""
    before = _BARS[0]
    use_bars(False)
    try:
        yield
    finally:
        use_bars(before)


@contextlib.contextmanager
def experiment(name: str):
    """Phases started inside are labelled with ``name``."""
    token = _EXPERIMENT.set(name)
    try:
        yield
    finally:
        _EXPERIMENT.reset(token)


class Phase:
    """One phase of ``engine`` ("GD", "flow") on ``run`` (an arm, or "" for none):
    ``update(done, **shown)`` while it runs, ``finish(summary)`` at its end.

    ``enabled`` False (``--quiet``, or a library call without ``progress``) shows nothing.
    """

    def __init__(self, run: str, engine: str, *, enabled: bool, unit: str = "steps") -> None:
        self.enabled = enabled
        self.label = " ".join(p for p in (_EXPERIMENT.get(), run) if p)
        self.label = f"{self.label}: {engine}" if self.label else engine
        self.start = time.perf_counter()
        self.bar = (tqdm(desc=self.label, unit=unit, leave=False, file=sys.stderr)
                    if enabled and _BARS[0] and _is_terminal() else None)
        self.done = 0

    def update(self, done: int, **shown: str) -> None:
        if self.bar is not None:
            self.bar.update(done - self.done)
            if shown:
                self.bar.set_postfix(shown, refresh=False)
        self.done = done

    def finish(self, summary: str) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.enabled:
            seconds = time.perf_counter() - self.start
            print(f"{self.label}: {summary} ({seconds:.1f} s)", file=sys.stderr, flush=True)

    def __enter__(self) -> Phase:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:  # an error: the bar goes, the error says the rest
            self.bar.close()
            self.bar = None


def _is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False
